// Tests of the artifact scanner (pickle walker, zip reading, safetensors headers, the directory scan and its policy).
// Rules: hand-written byte fixtures (built here, in a temp directory) always run; the pickles written by Python's own
// pickle module (test/fixtures/registry-scan/make-pickles.py) need python3 and are skipped with one visible line
// without it (an error under MATRIXINFER_REQUIRE_ALL=1, as test/support/system.ts does for other programs).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, symlinkSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { scanPickle, isSafeGlobal } from './pickle.ts';
import { checkHeader } from './safetensors.ts';
import { scanArtifacts, scanFile, type ScanResult } from './scan.ts';
import { findProgram, requireAll } from '../../../test/support/system.ts';

const ascii = (text: string): number[] => [...Buffer.from(text, 'latin1')];
const u8 = (...parts: Array<number | number[] | string>): Buffer =>
  Buffer.from(parts.flatMap((part) => (typeof part === 'string' ? ascii(part) : Array.isArray(part) ? part : [part])));
const shortUnicode = (text: string): number[] => [0x8c, Buffer.byteLength(text), ...Buffer.from(text)];

/** builtins.eval hidden behind STACK_GLOBAL: the module and name strings are memoised, popped, and fetched back. */
const HIDDEN_EVAL = u8(
  0x80, 4, shortUnicode('builtins'), 0x94, shortUnicode('eval'), 0x94, 0x30, 0x30, // memo 0, 1; stack emptied
  shortUnicode('collections'), 0x94, shortUnicode('OrderedDict'), 0x94, 0x93, 0x29, 0x52, 0x30, // a decoy OrderedDict()
  0x68, 0, 0x68, 1, 0x93, // BINGET 0, BINGET 1, STACK_GLOBAL at byte 47
  shortUnicode('1+1'), 0x85, 0x52, 0x2e,
);
const HIDDEN_EVAL_OFFSET = HIDDEN_EVAL.lastIndexOf(0x93);

/** A protocol-2 OrderedDict([('a', 1), ('b', 'x')]) as Python writes it. */
const ORDERED_DICT_P2 = Buffer.from('800263636f6c6c656374696f6e730a4f726465726564446963740a7100295271012858010000006171024b0158010000006271035801000000787104752e', 'hex');

/** A zip archive of stored/deflated entries, with a correct central directory. */
function zip(entries: Array<{ name: string; data: Buffer; deflate?: boolean; declaredSize?: number }>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name);
    const body = entry.deflate === true ? deflateRawSync(entry.data) : entry.data;
    const size = entry.declaredSize ?? entry.data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(entry.deflate === true ? 8 : 0, 8);
    local.writeUInt32LE(crc32(entry.data), 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(entry.deflate === true ? 8 : 0, 10);
    central.writeUInt32LE(crc32(entry.data), 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

/** A safetensors file: the header object (or raw header bytes) and `dataBytes` of zeros. */
function safetensors(header: object | string, dataBytes: number, declaredLength?: number): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(declaredLength ?? json.length));
  return Buffer.concat([length, json, Buffer.alloc(dataBytes)]);
}

const GOOD_HEADER = {
  __metadata__: { format: 'pt' },
  'a.weight': { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
  'a.bias': { dtype: 'BF16', shape: [2], data_offsets: [24, 28] },
  empty: { dtype: 'I64', shape: [0, 4], data_offsets: [28, 28] },
};

function unsafe(result: ScanResult): Extract<ScanResult, { safe: false }> {
  assert.equal(result.safe, false, `expected a refusal, got ${JSON.stringify(result)}`);
  return result as Extract<ScanResult, { safe: false }>;
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'matrixinfer-scan-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const put = (name: string, data: Buffer): string => {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, data);
  return path;
};

describe('pickle walker (hand-written bytes)', () => {
  test('a protocol-2 OrderedDict imports only collections.OrderedDict', () => {
    const scan = scanPickle(ORDERED_DICT_P2);
    assert.ok(scan.ok);
    assert.deepEqual(scan.globals.map((g) => `${g.module}.${g.name}@${g.offset}`), ['collections.OrderedDict@2']);
    assert.deepEqual(scan.unsafe, []);
  });

  test('STACK_GLOBAL fed by memoised strings is resolved to builtins.eval at its offset', () => {
    const scan = scanPickle(HIDDEN_EVAL);
    assert.ok(scan.ok);
    assert.deepEqual(scan.unsafe.map((g) => [`${g.module}.${g.name}`, g.offset, g.opcode]), [['builtins.eval', HIDDEN_EVAL_OFFSET, 'STACK_GLOBAL']]);
  });

  test('protocol 0 GLOBAL and INST name their globals', () => {
    const global = scanPickle(u8('cos\nsystem\n(S\'id\'\ntR.'));
    assert.ok(global.ok);
    assert.deepEqual(global.unsafe.map((g) => `${g.module}.${g.name}`), ['os.system']);
    const inst = scanPickle(u8("(S'id'\nisubprocess\nPopen\n."));
    assert.ok(inst.ok);
    assert.deepEqual(inst.unsafe.map((g) => [`${g.module}.${g.name}`, g.opcode]), [['subprocess.Popen', 'INST']]);
  });

  test('STACK_GLOBAL of values that are not strings, and copyreg extensions, are findings', () => {
    const scan = scanPickle(u8(0x80, 4, 0x4b, 1, 0x4b, 2, 0x93, 0x2e));
    assert.ok(scan.ok);
    assert.equal(scan.unsafe[0]?.module, '?');
    const ext = scanPickle(u8(0x80, 2, 0x82, 7, 0x2e));
    assert.deepEqual(ext.unsafe.map((g) => g.name), ['extension 7']);
  });

  test('truncated, unknown opcode, underflow, bad memo: reported with an offset, never thrown', () => {
    const cases: Array<[Buffer, RegExp]> = [
      [ORDERED_DICT_P2.subarray(0, 40), /truncated/],
      [ORDERED_DICT_P2.subarray(0, ORDERED_DICT_P2.length - 1), /no STOP/],
      [u8(0x80, 2, 0xff), /unknown opcode 0xff/],
      [u8(0x80, 2, 0x52, 0x2e), /stack underflow/],
      [u8(0x80, 2, 0x68, 9, 0x2e), /memo key 9/],
      [u8(0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x61), /truncated/],
      [u8(0x80, 9, 0x4e, 0x2e), /unsupported protocol/],
      [Buffer.alloc(0), /no STOP/],
    ];
    for (const [bytes, pattern] of cases) {
      const scan = scanPickle(bytes);
      assert.equal(scan.ok, false, bytes.toString('hex'));
      if (!scan.ok) {
        assert.match(scan.malformed, pattern);
        assert.ok(scan.offset >= 0 && scan.offset <= bytes.length);
      }
    }
  });

  test('the allow-list', () => {
    for (const name of ['torch._utils._rebuild_tensor_v2', 'torch.BFloat16Storage', 'torch.float16', 'collections.OrderedDict', 'numpy.core.multiarray._reconstruct', '_codecs.encode']) {
      const dot = name.lastIndexOf('.');
      assert.ok(isSafeGlobal(name.slice(0, dot), name.slice(dot + 1)), name);
    }
    for (const name of ['os.system', 'posix.system', 'builtins.eval', 'builtins.exec', 'builtins.getattr', 'subprocess.Popen', 'runpy._run_code', 'webbrowser.open', 'torch.load', 'torch.storage._load_from_bytes', 'torch.os']) {
      const dot = name.lastIndexOf('.');
      assert.ok(!isSafeGlobal(name.slice(0, dot), name.slice(dot + 1)), name);
    }
    // A dotted attribute path is refused even when it spells an allowed global.
    assert.ok(!isSafeGlobal('torch', '_utils._rebuild_tensor_v2'));
    assert.ok(!isSafeGlobal('collections', 'OrderedDict.fromkeys'));
  });
});

describe('safetensors header', () => {
  test('a good header, and each kind of bad one', () => {
    assert.deepEqual(checkHeader(Buffer.from(JSON.stringify(GOOD_HEADER)), 28), { ok: true, tensors: 3, headerBytes: JSON.stringify(GOOD_HEADER).length });
    const bad: Array<[object | string, number, RegExp]> = [
      [{ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12, /overlap/],
      [{ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8, /gap/],
      [{ a: { dtype: 'F31', shape: [1], data_offsets: [0, 4] } }, 4, /unknown dtype/],
      [{ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4, /non-negative/],
      [{ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, 4, /data_offsets span/],
      [{ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 8, /cover 4 bytes/],
      [{ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4, /past the data/],
      [{ __metadata__: { n: 1 } }, 0, /not a string/],
      [{ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4], extra: 1 } }, 4, /unknown field/],
      [{ a: { dtype: 'F4', shape: [3], data_offsets: [0, 2] } }, 2, /whole bytes/],
      ['[1,2]', 0, /not a JSON object/],
      ['{"a":', 0, /not JSON/],
    ];
    for (const [header, dataBytes, pattern] of bad) {
      const check = checkHeader(Buffer.from(typeof header === 'string' ? header : JSON.stringify(header)), dataBytes);
      assert.equal(check.ok, false, JSON.stringify(header));
      if (!check.ok) assert.match(check.detail, pattern);
    }
  });

  test('files: good, header length past the end, header length over the limit, too short', async () => {
    assert.deepEqual(await scanArtifacts([put('st/good.safetensors', safetensors(GOOD_HEADER, 28))]), { safe: true, files: [{ path: join(dir, 'st/good.safetensors'), kind: 'safetensors' }] });
    const pastEof = unsafe(await scanArtifacts([put('st/eof.safetensors', safetensors(GOOD_HEADER, 0, 10_000))]));
    assert.equal(pastEof.reason, 'InvalidArtifact');
    assert.match(pastEof.detail, /runs past the end/);
    assert.match(unsafe(await scanArtifacts([put('st/huge.safetensors', safetensors(GOOD_HEADER, 0, 2 ** 40))])).detail, /more than the limit/);
    assert.match(unsafe(await scanArtifacts([put('st/short.safetensors', Buffer.from([1, 2]))])).detail, /no header length/);
    assert.match(unsafe(await scanArtifacts([put('st/overlap.safetensors', safetensors({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: { dtype: 'U8', shape: [2], data_offsets: [1, 3] } }, 3))])).detail, /overlap/);
  });
});

describe('files and directories (hand-written bytes)', () => {
  test('a zip-wrapped pickle, stored and deflated, is scanned; a malicious one inside a zip is named by entry', async () => {
    const good = put('zip/good.pt', zip([{ name: 'm/data.pkl', data: ORDERED_DICT_P2, deflate: true }, { name: 'm/data/0', data: Buffer.alloc(64) }, { name: 'm/extra.pkl', data: ORDERED_DICT_P2 }]));
    assert.deepEqual(await scanFile(good), { safe: true, file: { path: good, kind: 'zip', globals: ['collections.OrderedDict'] } });
    const evil = put('zip/evil.pth', zip([{ name: 'm/data.pkl', data: HIDDEN_EVAL, deflate: true }]));
    const verdict = unsafe(await scanArtifacts(evil));
    assert.deepEqual([verdict.reason, verdict.file, verdict.global, verdict.offset], ['UnsafeArtifact', `${evil}!m/data.pkl`, 'builtins.eval', HIDDEN_EVAL_OFFSET]);
  });

  test('zip bombs and broken archives are InvalidArtifact', async () => {
    const bomb = put('zip/bomb.pt', zip([{ name: 'm/data.pkl', data: Buffer.alloc(4 * 1024 * 1024), deflate: true, declaredSize: 100 }]));
    assert.match(unsafe(await scanArtifacts(bomb, { zip: { maxEntryBytes: 1024 * 1024 } })).detail, /inflate failed/);
    const declared = put('zip/declared.pt', zip([{ name: 'm/data.pkl', data: Buffer.alloc(2 * 1024 * 1024), deflate: true }]));
    assert.match(unsafe(await scanArtifacts(declared, { zip: { maxEntryBytes: 1024 * 1024 } })).detail, /more than the limit/);
    const many = put('zip/many.pt', zip(Array.from({ length: 5 }, (_, i) => ({ name: `m/${i}.pkl`, data: ORDERED_DICT_P2 }))));
    assert.match(unsafe(await scanArtifacts(many, { zip: { maxEntries: 4 } })).detail, /5 entries/);
    const cut = zip([{ name: 'm/data.pkl', data: ORDERED_DICT_P2 }]);
    assert.match(unsafe(await scanArtifacts(put('zip/cut.pt', cut.subarray(0, cut.length - 10)))).detail, /end of central directory/);
    assert.match(unsafe(await scanArtifacts(put('zip/nopkl.pt', zip([{ name: 'm/data/0', data: Buffer.alloc(8) }])))).detail, /no \.pkl/);
  });

  test('a truncated pickle and a non-pickle .bin are InvalidArtifact', async () => {
    const truncated = unsafe(await scanArtifacts(put('bad/truncated.pkl', ORDERED_DICT_P2.subarray(0, 50))));
    assert.equal(truncated.reason, 'InvalidArtifact');
    assert.match(truncated.detail, /malformed pickle: truncated/);
    assert.equal(unsafe(await scanArtifacts(put('bad/raw.bin', Buffer.from('GGUF\x03\x00')))).reason, 'InvalidArtifact');
  });

  test('a directory: artifacts by extension, symlinks followed, other files ignored, safetensorsOnly', async () => {
    const model = join(dir, 'model');
    mkdirSync(join(model, 'sub'), { recursive: true });
    writeFileSync(join(model, 'model.safetensors'), safetensors(GOOD_HEADER, 28));
    writeFileSync(join(model, 'config.json'), '{}');
    writeFileSync(join(model, 'sub', 'optimizer.pt'), ORDERED_DICT_P2);
    symlinkSync(join(model, 'sub', 'optimizer.pt'), join(model, 'linked.ckpt'));
    symlinkSync(model, join(model, 'sub', 'loop'));
    const result = await scanArtifacts(model);
    assert.ok(result.safe);
    assert.deepEqual(result.files.map((f) => [f.path.slice(model.length + 1), f.kind]), [
      ['linked.ckpt', 'pickle'], ['model.safetensors', 'safetensors'], ['sub/optimizer.pt', 'pickle'],
    ]);
    const policy = unsafe(await scanArtifacts(model, { safetensorsOnly: true }));
    assert.deepEqual([policy.reason, policy.file], ['PolicyViolation', join(model, 'linked.ckpt')]);
    assert.equal((await scanArtifacts(join(model, 'model.safetensors'), { safetensorsOnly: true })).safe, true);
    assert.equal(unsafe(await scanArtifacts(join(dir, 'missing'))).reason, 'InvalidArtifact');
  });

  test('a pickle larger than maxPickleBytes is refused as not read to its end', async () => {
    const path = put('big/state.pkl', ORDERED_DICT_P2);
    assert.match(unsafe(await scanArtifacts(path, { maxPickleBytes: 20 })).detail, /only the first 20 bytes/);
  });
});

const python = findProgram('python3');
const pythonSkip = python === undefined ? 'needs python3, not found on this machine (apt-get install python3 enables it)' : false;
if (pythonSkip !== false && requireAll()) throw new Error(`MATRIXINFER_REQUIRE_ALL=1: a test ${pythonSkip}`);

describe('pickles written by Python', { skip: pythonSkip }, () => {
  let fixtures: string;
  before(() => {
    fixtures = join(dir, 'python');
    mkdirSync(fixtures);
    const script = fileURLToPath(new URL('../../../test/fixtures/registry-scan/make-pickles.py', import.meta.url));
    execFileSync(python!, [script, fixtures], { stdio: ['ignore', 'ignore', 'inherit'] });
  });

  const TORCH_GLOBALS = ['collections.OrderedDict', 'torch.FloatStorage', 'torch._utils._rebuild_parameter', 'torch._utils._rebuild_tensor_v2'];

  for (const protocol of [0, 2, 4, 5]) {
    test(`a PyTorch-style state_dict, protocol ${protocol}, is safe`, async () => {
      const verdict = await scanFile(join(fixtures, `benign-p${protocol}.pkl`));
      assert.ok(verdict.safe, JSON.stringify(verdict));
      // Protocols 0 and 2 write bytes through _codecs.encode; protocol 0 writes the storage's persistent id as text
      // (PERSID), so torch.FloatStorage is no global there (torch.save itself always uses protocol 2).
      const expected = protocol === 0 ? ['_codecs.encode', ...TORCH_GLOBALS.filter((g) => g !== 'torch.FloatStorage')]
        : protocol < 3 ? ['_codecs.encode', ...TORCH_GLOBALS] : TORCH_GLOBALS;
      assert.deepEqual(verdict.file.globals, expected);
    });
  }

  test('numpy arrays, zip-wrapped checkpoints (deflated and stored) and the legacy format are safe', async () => {
    for (const name of ['numpy-p2.pkl', 'benign-zip-deflated.pt', 'benign-zip-stored.pth', 'benign-legacy.bin']) {
      const verdict = await scanFile(join(fixtures, name));
      assert.ok(verdict.safe, `${name}: ${JSON.stringify(verdict)}`);
    }
    const numpy = await scanFile(join(fixtures, 'numpy-p2.pkl'));
    assert.ok(numpy.safe);
    assert.deepEqual(numpy.file.globals, ['_codecs.encode', 'numpy.core.multiarray._reconstruct', 'numpy.ndarray']);
  });

  test('malicious pickles are refused, naming the file, the global and its byte offset', async () => {
    const cases: Array<[string, string]> = [
      ['evil-system-p0.pkl', 'posix.system'],
      ['evil-system-p2.pkl', 'posix.system'],
      ['evil-system-p4.pkl', 'posix.system'],
      ['evil-eval-p5.pkl', 'builtins.eval'],
      // Below protocol 3 Python writes the Python 2 name (_compat_pickle), which its unpickler maps back to subprocess.
      ['evil-subprocess-p2.pt', 'commands.check_output'],
      ['evil-zip.pt', 'posix.system'],
    ];
    for (const [name, global] of cases) {
      const path = join(fixtures, name);
      const verdict = unsafe(await scanArtifacts(path));
      assert.equal(verdict.reason, 'UnsafeArtifact', name);
      assert.equal(verdict.global, global, name);
      assert.equal(verdict.file, name.endsWith('zip.pt') ? `${path}!archive/data.pkl` : path);
      if (!name.endsWith('zip.pt')) {
        // The offset points at the opcode that names the global: GLOBAL ('c') or STACK_GLOBAL (0x93).
        const byte = readFileSync(path)[verdict.offset!];
        assert.ok(byte === 0x63 || byte === 0x93, `${name}: byte ${byte} at ${verdict.offset}`);
      }
    }
    // The whole directory is refused on the first malicious file in path order.
    assert.equal(unsafe(await scanArtifacts(fixtures)).file, join(fixtures, 'evil-eval-p5.pkl'));
  });

  test('Python agrees that the hand-written STACK_GLOBAL pickle resolves to builtins.eval (find_class only, nothing called)', () => {
    const path = put('python/hidden-eval.pkl', HIDDEN_EVAL);
    const code = [
      'import pickle, sys',
      'class U(pickle.Unpickler):',
      '    def find_class(self, m, n):',
      '        print(m + "." + n)',
      '        if (m, n) == ("builtins", "eval"): raise SystemExit(0)',
      '        return super().find_class(m, n)',
      'U(open(sys.argv[1], "rb")).load()',
    ].join('\n');
    const out = execFileSync(python!, ['-c', code, path], { encoding: 'utf8' });
    assert.deepEqual(out.trim().split('\n'), ['collections.OrderedDict', 'builtins.eval']);
  });
});
