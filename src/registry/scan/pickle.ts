// The pickle opcode walker of the artifact scanner (issue 13, "Scanning"): it reads a pickle (protocols 0–5) opcode
// by opcode and names every global the pickle would import, without ever unpickling anything. Rules:
// - Nothing is executed or constructed. The walker keeps an abstract stack (a string, a global, a mark, or "some
//   value") and the memo, which is just enough to resolve STACK_GLOBAL's module and name when they were pushed by
//   any of the string opcodes, fetched from the memo (GET/BINGET/LONG_BINGET after PUT/BINPUT/LONG_BINPUT/MEMOIZE)
//   or duplicated (DUP). A STACK_GLOBAL whose operands are not both known strings is itself a finding.
// - Globals come from GLOBAL ('c'), INST ('i') and STACK_GLOBAL; each is checked against SAFE_GLOBALS. REDUCE,
//   BUILD, NEWOBJ, NEWOBJ_EX and OBJ only call what a global already named, so checking every global covers them.
//   EXT1/2/4 (the copyreg extension registry) name a global the walker cannot see, so they are findings too.
// - Malformed input (an unknown opcode, a truncated argument, a stack underflow, a bad memo key, no STOP) is a
//   `malformed` result with the byte offset, never an exception out of this module.
// - Pickles written back to back are all walked (PyTorch's legacy format writes five before its raw storage bytes);
//   walking ends at the end of the buffer, or at a STOP followed by bytes that do not open a binary pickle (PROTO).
//   A stream that opens with PyTorch's legacy magic number is walked for exactly those five pickles, since the
//   storage bytes after them are data, not pickles.

/** One global a pickle imports, where its opcode sits (byte offset from the start of the buffer). */
export interface PickleGlobal {
  module: string;
  name: string;
  offset: number;
  opcode: string;
}

export type PickleScan =
  | { ok: true; globals: PickleGlobal[]; unsafe: PickleGlobal[]; pickles: number; end: number }
  | { ok: false; malformed: string; offset: number; globals: PickleGlobal[]; unsafe: PickleGlobal[] };

/**
 * The globals a model file may import. The list follows PyTorch's own `weights_only=True` unpickler
 * (torch/_weights_only_unpickler.py, `_get_allowed_globals` and `_tensor_rebuild_functions`): the tensor and
 * parameter rebuild functions in torch._utils, the typed legacy storage classes (`torch.FloatStorage` …) and
 * `torch.storage.UntypedStorage`/`TypedStorage` named through BINPERSID, `torch.Size`, `torch.device`, the dtypes and
 * layouts (`torch.float32`, `torch.strided` …, pickled as globals), `torch.serialization._get_layout`,
 * `torch.nn.parameter.Parameter`, `collections.OrderedDict` (every state_dict), `builtins.set`/`frozenset`/
 * `bytearray`/`complex` (plain containers), and `_codecs.encode`, which protocol 2 uses to write `bytes` (it only
 * turns a string into bytes). To these the issue adds numpy arrays: `numpy.core.multiarray._reconstruct`,
 * `numpy.ndarray`, `numpy.dtype` and `numpy.core.multiarray.scalar` (numpy 2 moved numpy.core to numpy._core, so both
 * spellings). None of these run code chosen by the file: each builds a tensor, array or container from data.
 * Deliberately absent: anything that imports, evaluates, opens, spawns or looks up attributes (`builtins.getattr`,
 * `eval`, `exec`, `__import__`, `os.*`, `posix.*`, `subprocess.*`, `runpy.*`, `webbrowser.*`, `pickle.loads`,
 * `torch.load`, `torch.storage._load_from_bytes`, which unpickles nested bytes with the unsafe loader).
 */
const SAFE_EXACT = new Set([
  'collections.OrderedDict',
  'collections.Counter',
  'builtins.set',
  'builtins.frozenset',
  'builtins.bytearray',
  'builtins.complex',
  '_codecs.encode',
  'torch.Size',
  'torch.device',
  'torch.Tensor',
  'torch.nn.parameter.Parameter',
  'torch.serialization._get_layout',
  'torch.storage.UntypedStorage',
  'torch.storage.TypedStorage',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor_v3',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch._utils._rebuild_qtensor',
  'torch._utils._rebuild_sparse_tensor',
  'torch._utils._rebuild_nested_tensor',
  'torch._utils._rebuild_meta_tensor_no_storage',
  'torch._utils._rebuild_wrapper_subclass',
  'torch._utils._rebuild_device_tensor_from_numpy',
  'torch._tensor._rebuild_from_type_v2',
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray._reconstruct',
  'numpy.core.multiarray.scalar',
  'numpy._core.multiarray.scalar',
  'numpy.ndarray',
  'numpy.dtype',
]);

/** torch dtypes and layouts, pickled as `GLOBAL torch <name>`. */
const TORCH_VALUES = new Set([
  'float32', 'float', 'float64', 'double', 'float16', 'half', 'bfloat16', 'complex32', 'complex64', 'complex128',
  'cfloat', 'cdouble', 'uint8', 'uint16', 'uint32', 'uint64', 'int8', 'int16', 'short', 'int32', 'int', 'int64', 'long',
  'bool', 'qint8', 'quint8', 'qint32', 'quint4x2', 'quint2x4', 'float8_e4m3fn', 'float8_e5m2', 'float8_e4m3fnuz',
  'float8_e5m2fnuz', 'strided', 'sparse_coo', 'sparse_csr', 'sparse_csc', 'sparse_bsr', 'sparse_bsc', '_mkldnn',
  'per_tensor_affine', 'per_channel_affine', 'per_tensor_symmetric', 'per_channel_symmetric',
  'per_channel_affine_float_qparams',
]);

/**
 * Whether `module.name` is on the allow-list. A dotted name (protocol 4 resolves `name` as an attribute path, so
 * `torch` + `_utils.x` reaches `torch._utils.x` through getattr) is never allowed: the allowed globals are all
 * top-level names of their modules, as Python's pickler writes them.
 */
export function isSafeGlobal(module: string, name: string): boolean {
  if (name.includes('.')) return false;
  if (SAFE_EXACT.has(`${module}.${name}`)) return true;
  if (module === 'torch') return TORCH_VALUES.has(name) || /^[A-Za-z0-9]+Storage$/.test(name);
  return false;
}

/** Abstract stack values: a known string, a global, a MARK, or anything else. */
type Value = { s: string } | { g: string } | typeof MARK | typeof ANY;
const MARK = Symbol('mark');
const ANY = Symbol('any');

class Malformed extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

/** How an opcode's argument is encoded. */
const Arg = { None: 0, U1: 1, U2: 2, I4: 3, U4: 4, U8: 5, Line: 6, TwoLines: 7, Len1: 8, Len4: 9, Len8: 10, Float8: 11 } as const;
type Arg = (typeof Arg)[keyof typeof Arg];

/** Opcode byte → [name, argument, pops (-1 = to the MARK), pushes]. Stack effects of the opcodes not special-cased. */
const OPCODES = new Map<number, readonly [string, Arg, number, number]>([
  [0x28, ['MARK', Arg.None, 0, 0]], [0x2e, ['STOP', Arg.None, 1, 0]], [0x30, ['POP', Arg.None, 1, 0]],
  [0x31, ['POP_MARK', Arg.None, -1, 0]], [0x32, ['DUP', Arg.None, 0, 0]], [0x46, ['FLOAT', Arg.Line, 0, 1]],
  [0x49, ['INT', Arg.Line, 0, 1]], [0x4a, ['BININT', Arg.I4, 0, 1]], [0x4b, ['BININT1', Arg.U1, 0, 1]],
  [0x4c, ['LONG', Arg.Line, 0, 1]], [0x4d, ['BININT2', Arg.U2, 0, 1]], [0x4e, ['NONE', Arg.None, 0, 1]],
  [0x50, ['PERSID', Arg.Line, 0, 1]], [0x51, ['BINPERSID', Arg.None, 1, 1]], [0x52, ['REDUCE', Arg.None, 2, 1]],
  [0x53, ['STRING', Arg.Line, 0, 0]], [0x54, ['BINSTRING', Arg.Len4, 0, 0]], [0x55, ['SHORT_BINSTRING', Arg.Len1, 0, 0]],
  [0x56, ['UNICODE', Arg.Line, 0, 0]], [0x58, ['BINUNICODE', Arg.Len4, 0, 0]], [0x61, ['APPEND', Arg.None, 1, 0]],
  [0x62, ['BUILD', Arg.None, 1, 0]], [0x63, ['GLOBAL', Arg.TwoLines, 0, 0]], [0x64, ['DICT', Arg.None, -1, 1]],
  [0x7d, ['EMPTY_DICT', Arg.None, 0, 1]], [0x65, ['APPENDS', Arg.None, -1, 0]], [0x67, ['GET', Arg.Line, 0, 0]],
  [0x68, ['BINGET', Arg.U1, 0, 0]], [0x69, ['INST', Arg.TwoLines, -1, 1]], [0x6a, ['LONG_BINGET', Arg.U4, 0, 0]],
  [0x6c, ['LIST', Arg.None, -1, 1]], [0x5d, ['EMPTY_LIST', Arg.None, 0, 1]], [0x6f, ['OBJ', Arg.None, -1, 1]],
  [0x70, ['PUT', Arg.Line, 0, 0]], [0x71, ['BINPUT', Arg.U1, 0, 0]], [0x72, ['LONG_BINPUT', Arg.U4, 0, 0]],
  [0x73, ['SETITEM', Arg.None, 2, 0]], [0x74, ['TUPLE', Arg.None, -1, 1]], [0x29, ['EMPTY_TUPLE', Arg.None, 0, 1]],
  [0x75, ['SETITEMS', Arg.None, -1, 0]], [0x47, ['BINFLOAT', Arg.Float8, 0, 1]], [0x80, ['PROTO', Arg.U1, 0, 0]],
  [0x81, ['NEWOBJ', Arg.None, 2, 1]], [0x82, ['EXT1', Arg.U1, 0, 1]], [0x83, ['EXT2', Arg.U2, 0, 1]],
  [0x84, ['EXT4', Arg.I4, 0, 1]], [0x85, ['TUPLE1', Arg.None, 1, 1]], [0x86, ['TUPLE2', Arg.None, 2, 1]],
  [0x87, ['TUPLE3', Arg.None, 3, 1]], [0x88, ['NEWTRUE', Arg.None, 0, 1]], [0x89, ['NEWFALSE', Arg.None, 0, 1]],
  [0x8a, ['LONG1', Arg.Len1, 0, 1]], [0x8b, ['LONG4', Arg.Len4, 0, 1]], [0x42, ['BINBYTES', Arg.Len4, 0, 1]],
  [0x43, ['SHORT_BINBYTES', Arg.Len1, 0, 1]], [0x8c, ['SHORT_BINUNICODE', Arg.Len1, 0, 0]],
  [0x8d, ['BINUNICODE8', Arg.Len8, 0, 0]], [0x8e, ['BINBYTES8', Arg.Len8, 0, 1]], [0x8f, ['EMPTY_SET', Arg.None, 0, 1]],
  [0x90, ['ADDITEMS', Arg.None, -1, 0]], [0x91, ['FROZENSET', Arg.None, -1, 1]], [0x92, ['NEWOBJ_EX', Arg.None, 3, 1]],
  [0x93, ['STACK_GLOBAL', Arg.None, 0, 0]], [0x94, ['MEMOIZE', Arg.None, 0, 0]], [0x95, ['FRAME', Arg.U8, 0, 0]],
  [0x96, ['BYTEARRAY8', Arg.Len8, 0, 1]], [0x97, ['NEXT_BUFFER', Arg.None, 0, 1]],
  [0x98, ['READONLY_BUFFER', Arg.None, 1, 1]],
]);

/** The opcodes whose argument is (or names) a string the walker keeps. */
const STRING_OPS = new Set(['STRING', 'BINSTRING', 'SHORT_BINSTRING', 'UNICODE', 'BINUNICODE', 'SHORT_BINUNICODE', 'BINUNICODE8']);

/** PROTO 2, LONG1 of 10 bytes: 0x1950a86a20f9469cfc6c, torch.serialization's MAGIC_NUMBER (legacy format). */
const TORCH_LEGACY_MAGIC = Uint8Array.of(0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19);

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  return data.length >= prefix.length && prefix.every((byte, i) => data[i] === byte);
}

/** Walks every pickle in `data` and reports its globals; never throws for bad input. */
export function scanPickle(data: Uint8Array): PickleScan {
  const globals: PickleGlobal[] = [];
  let pickles = 0;
  let pos = 0;
  const limit = startsWith(data, TORCH_LEGACY_MAGIC) ? 5 : Infinity;
  try {
    for (;;) {
      pos = walkOne(data, pos, globals);
      pickles += 1;
      if (pickles >= limit || pos >= data.length || data[pos] !== 0x80) break;
    }
  } catch (err) {
    const unsafe = globals.filter((g) => !isSafeGlobal(g.module, g.name));
    if (err instanceof Malformed) return { ok: false, malformed: err.message, offset: err.offset, globals, unsafe };
    return { ok: false, malformed: `walker error: ${(err as Error).message}`, offset: pos, globals, unsafe };
  }
  return { ok: true, globals, unsafe: globals.filter((g) => !isSafeGlobal(g.module, g.name)), pickles, end: pos };
}

/** Walks one pickle from `start` to its STOP; returns the offset after the STOP. */
function walkOne(data: Uint8Array, start: number, globals: PickleGlobal[]): number {
  const stack: Value[] = [];
  const memo = new Map<number, Value>();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = start;

  const need = (n: number, at: number): void => {
    if (n < 0 || pos + n > data.length) throw new Malformed('truncated pickle', at);
  };
  const line = (at: number): string => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) throw new Malformed('truncated pickle (no end of line)', at);
    const text = Buffer.from(data.subarray(pos, end)).toString('latin1');
    pos = end + 1;
    return text;
  };
  const pop = (at: number): Value => {
    const value = stack.pop();
    if (value === undefined || value === MARK) throw new Malformed('stack underflow', at);
    return value;
  };
  const popMark = (at: number): Value[] => {
    const index = stack.lastIndexOf(MARK);
    if (index < 0) throw new Malformed('no MARK on the stack', at);
    return stack.splice(index);
  };
  const addGlobal = (module: string, name: string, at: number, opcode: string): Value => {
    globals.push({ module, name, offset: at, opcode });
    return { g: `${module}.${name}` };
  };

  for (;;) {
    const at = pos;
    if (pos >= data.length) throw new Malformed('truncated pickle (no STOP)', at);
    const code = data[pos]!;
    const op = OPCODES.get(code);
    if (op === undefined) throw new Malformed(`unknown opcode 0x${code.toString(16).padStart(2, '0')}`, at);
    const [name, arg, pops, pushes] = op;
    pos += 1;

    // The argument.
    let num = 0;
    let text: string | undefined;
    let text2: string | undefined;
    switch (arg) {
      case Arg.None: break;
      case Arg.U1: need(1, at); num = data[pos]!; pos += 1; break;
      case Arg.U2: need(2, at); num = view.getUint16(pos, true); pos += 2; break;
      case Arg.I4: need(4, at); num = view.getInt32(pos, true); pos += 4; break;
      case Arg.U4: need(4, at); num = view.getUint32(pos, true); pos += 4; break;
      case Arg.U8: need(8, at); num = Number(view.getBigUint64(pos, true)); pos += 8; break;
      case Arg.Float8: need(8, at); pos += 8; break;
      case Arg.Line: text = line(at); break;
      case Arg.TwoLines: text = line(at); text2 = line(at); break;
      case Arg.Len1: case Arg.Len4: case Arg.Len8: {
        const width = arg === Arg.Len1 ? 1 : arg === Arg.Len4 ? 4 : 8;
        need(width, at);
        const len = width === 1 ? data[pos]! : width === 4 ? view.getInt32(pos, true) : Number(view.getBigUint64(pos, true));
        pos += width;
        need(len, at);
        if (STRING_OPS.has(name)) text = Buffer.from(data.subarray(pos, pos + len)).toString(name.includes('UNICODE') ? 'utf8' : 'latin1');
        pos += len;
        break;
      }
    }

    // The stack effect.
    switch (name) {
      case 'MARK': stack.push(MARK); break;
      case 'STOP': pop(at); return pos;
      case 'DUP': { const top = stack.at(-1); if (top === undefined || top === MARK) throw new Malformed('stack underflow', at); stack.push(top); break; }
      case 'STRING': stack.push({ s: unquote(text!, at) }); break;
      case 'UNICODE': stack.push({ s: text! }); break;
      case 'BINSTRING': case 'SHORT_BINSTRING': case 'BINUNICODE': case 'SHORT_BINUNICODE': case 'BINUNICODE8':
        stack.push({ s: text! }); break;
      case 'GLOBAL': stack.push(addGlobal(text!, text2!, at, name)); break;
      case 'INST': popMark(at); stack.push(addGlobal(text!, text2!, at, name)); break;
      case 'STACK_GLOBAL': {
        const nameValue = pop(at);
        const moduleValue = pop(at);
        const module = stringOf(moduleValue);
        const global = stringOf(nameValue);
        if (module === undefined || global === undefined) stack.push(addGlobal(module ?? '?', global ?? '?', at, 'STACK_GLOBAL of an unknown string'));
        else stack.push(addGlobal(module, global, at, name));
        break;
      }
      case 'EXT1': case 'EXT2': case 'EXT4': stack.push(addGlobal('copyreg', `extension ${num}`, at, name)); break;
      case 'PUT': case 'BINPUT': case 'LONG_BINPUT': case 'MEMOIZE': {
        const top = stack.at(-1);
        if (top === undefined || top === MARK) throw new Malformed(`${name} with an empty stack`, at);
        const key = name === 'PUT' ? memoKey(text!, at) : name === 'MEMOIZE' ? memo.size : num;
        memo.set(key, top);
        break;
      }
      case 'GET': case 'BINGET': case 'LONG_BINGET': {
        const key = name === 'GET' ? memoKey(text!, at) : num;
        const value = memo.get(key);
        if (value === undefined) throw new Malformed(`memo key ${key} not set`, at);
        stack.push(value);
        break;
      }
      case 'PROTO': if (num > 5) throw new Malformed(`unsupported protocol ${num}`, at); break;
      default:
        if (pops < 0) popMark(at);
        else for (let i = 0; i < pops; i++) pop(at);
        for (let i = 0; i < pushes; i++) stack.push(ANY);
    }
  }
}

function stringOf(value: Value): string | undefined {
  return typeof value === 'object' && 's' in value ? value.s : undefined;
}

function memoKey(text: string, at: number): number {
  if (!/^\d+$/.test(text)) throw new Malformed(`bad memo key ${JSON.stringify(text)}`, at);
  return Number(text);
}

/**
 * The value of a protocol-0 STRING argument: a Python repr in single or double quotes, escapes kept as written (and
 * UNICODE's raw-unicode-escapes likewise). Safe for the check: no allowed name holds a backslash, so an escaped
 * spelling never matches the allow-list and is refused under its written form.
 */
function unquote(text: string, at: number): string {
  const q = text[0];
  if (text.length < 2 || (q !== "'" && q !== '"') || text.at(-1) !== q) throw new Malformed('STRING argument not quoted', at);
  return text.slice(1, -1);
}
