// The comparator of the differential fuzzer: given one input, our trace and llhttp's, a verdict.
//
// Rules. Both accepting with different framing (method, target, fields, body, where the next request begins,
// keep-alive) is a mismatch. One side refusing what the other accepts is classified: ours stricter is fine only
// in a category of reasons.ts; ours more lenient is fine only when rewriting the bytes llhttp refused into an
// equivalent it takes (same length, so every offset stays put) makes the two agree exactly, the rewritten part
// of the head aside. Anything else is a failure.
import { LENIENT, stricterCategory } from './reasons.ts';
import { framingDifference, headDifference, type Trace } from './trace.ts';

export type Verdict =
  | { kind: 'agree' }
  | { kind: 'both-reject' }
  /** llhttp handed the connection to another protocol (Upgrade, CONNECT); everything before it agreed. */
  | { kind: 'upgrade' }
  /** llhttp refused inside a request ours has not finished reading: ours delivered nothing more. */
  | { kind: 'llhttp-early' }
  | { kind: 'ours-stricter'; category: string; reason: string }
  /** Ours accepted what llhttp refused, and the rewritten input agrees: the categories rewritten. */
  | { kind: 'ours-lenient'; categories: string[] }
  | { kind: 'fail'; what: string; message: number };

const FAILS = new Set(['fail']);

/** True when the verdict must fail the run. */
export function isFailure(v: Verdict): boolean {
  return FAILS.has(v.kind);
}

type Step =
  | { kind: 'agree' | 'both-reject' | 'upgrade' | 'llhttp-early' }
  | { kind: 'stricter'; message: number }
  | { kind: 'lenient'; message: number }
  | { kind: 'mismatch'; what: string; message: number };

/** Parts of message heads not compared (rewritten for llhttp), keyed by message index. */
type Skips = Map<number, Set<string>>;
const NONE: ReadonlySet<string> = new Set();

/** The first disagreement between the two traces. */
function step(ours: Trace, theirs: Trace, skips: Skips): Step {
  const a = ours.messages;
  const b = theirs.messages;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    const head = headDifference(x, y, skips.get(i) ?? NONE);
    if (head !== null) return { kind: 'mismatch', what: head, message: i };
    const last = i === n - 1;
    // After an upgrade head llhttp reads no more HTTP (a body only if it saw one); we never switch protocols.
    if (last && i === b.length - 1 && theirs.outcome === 'upgrade') return { kind: 'upgrade' };
    if (x.end >= 0 && y.end >= 0) {
      const framing = framingDifference(x, y);
      if (framing !== null) return { kind: 'mismatch', what: framing, message: i };
    } else if (x.end >= 0) {
      if (last && theirs.outcome === 'rejected') return { kind: 'lenient', message: i };
      return { kind: 'mismatch', what: 'ours ended a body llhttp is still reading', message: i };
    } else if (y.end >= 0) {
      if (last && ours.outcome === 'rejected') return { kind: 'stricter', message: i };
      return { kind: 'mismatch', what: 'llhttp ended a body ours is still reading', message: i };
    } else if (x.body !== y.body) {
      // Both stopped inside this body: the one that delivered less refused first, and the rest must agree.
      if (ours.outcome === 'rejected' && y.body.startsWith(x.body)) return { kind: 'stricter', message: i };
      if (theirs.outcome === 'rejected' && x.body.startsWith(y.body)) return { kind: 'lenient', message: i };
      return { kind: 'mismatch', what: 'body so far', message: i };
    }
  }
  if (a.length > n) {
    if (theirs.outcome === 'upgrade') return { kind: 'upgrade' };
    if (theirs.outcome === 'rejected') return { kind: 'lenient', message: n };
    return { kind: 'mismatch', what: 'a request llhttp did not see', message: n };
  }
  if (b.length > n) {
    if (ours.outcome === 'rejected') return { kind: 'stricter', message: n };
    return { kind: 'mismatch', what: 'a request ours did not see', message: n };
  }
  if (theirs.outcome === 'upgrade') return { kind: 'upgrade' };
  if (ours.outcome === theirs.outcome) return { kind: ours.outcome === 'rejected' ? 'both-reject' : 'agree' };
  if (ours.outcome === 'rejected') return { kind: 'stricter', message: n };
  // llhttp refused; ours is still reading (it refuses nothing before a head is whole), or refuses it later.
  return { kind: 'llhttp-early' };
}

interface Rewrite {
  input: Buffer;
  /** Bytes added (or removed, negative) at `shiftAt`: our offsets beyond it move by as much. */
  shift?: { at: number; delta: number };
  key: keyof typeof LENIENT;
  /** The head part not to compare any more for the rewritten message. */
  skip: string | null;
}

const CR = 13;
const LF = 10;

/** Where message `k` starts in the input, by our trace (leading CRLFs skipped, as our server does). */
function messageStart(input: Buffer, ours: Trace, k: number): number {
  let at = k === 0 ? 0 : ours.messages[k - 1]!.end;
  while (at + 1 < input.length && input[at] === CR && input[at + 1] === LF) at += 2;
  return at;
}

/** llhttp's methods by length: a method it refuses is rewritten into one of these. */
const KNOWN_METHODS = new Map<number, string>([
  [3, 'GET'],
  [4, 'POST'],
  [5, 'PATCH'],
  [6, 'DELETE'],
  [7, 'OPTIONS'],
  [8, 'PROPFIND'],
  [9, 'PROPPATCH'],
  [10, 'MKCALENDAR'],
  [11, 'UNSUBSCRIBE'],
]);

/**
 * An equivalent of `input` that llhttp may take, for the refusal at `theirs.at` in message `k`: only bytes whose
 * meaning for framing is nil are changed, and never the length. Null when the refusal is not one of LENIENT's.
 */
function rewrite(input: Buffer, ours: Trace, theirs: Trace, k: number): Rewrite | null {
  const at = theirs.at;
  if (at < 0 || k >= ours.messages.length) return null;
  const code = theirs.reason.split(' ', 1)[0];
  const out = Buffer.from(input);
  const start = messageStart(input, ours, k);
  const sp1 = input.indexOf(32, start);
  const headEnd = input.indexOf('\r\n\r\n', start, 'latin1');
  if (code === 'HPE_INVALID_METHOD' && at >= start && at <= sp1) {
    const method = KNOWN_METHODS.get(sp1 - start);
    if (method !== undefined) {
      out.write(method, start, 'latin1');
      return { input: out, key: 'method', skip: 'method' };
    }
    const shifted = Buffer.concat([input.subarray(0, start), Buffer.from('GET'), input.subarray(sp1)]);
    return { input: shifted, key: 'method', skip: 'method', shift: { at: start, delta: 3 - (sp1 - start) } };
  }
  const sp2 = input.indexOf(32, sp1 + 1);
  if (code === 'HPE_INVALID_URL' && at >= sp1 && at <= sp2) {
    out.fill('a', sp1 + 1, sp2, 'latin1');
    out[sp1 + 1] = 0x2f;
    return { input: out, key: 'target', skip: 'target' };
  }
  if (at < headEnd && code === 'HPE_INVALID_HEADER_TOKEN' && input[at]! >= 0x80) {
    out[at] = 0x61;
    return { input: out, key: 'value', skip: 'headers' };
  }
  const teLine = input.lastIndexOf('\r\n', at, 'latin1') + 2;
  if (code === 'HPE_INVALID_TRANSFER_ENCODING' && teLine > headEnd && /^transfer-encoding[ \t]*:/i.test(input.toString('latin1', teLine, teLine + 24))) {
    // Transfer-Encoding in the trailer section (ours drops trailer fields): renamed to a field without meaning.
    out[teLine] = 0x58;
    return { input: out, key: 'trailer', skip: null };
  }
  if (code === 'HPE_INVALID_TRANSFER_ENCODING' && theirs.reason.includes('Request has invalid') && headEnd > start) {
    // llhttp does not see `chunked` followed by HTAB (OWS) as chunked: the HTABs become SPs.
    const head = input.toString('latin1', start, headEnd);
    const fixed = head.replace(/(\r\ntransfer-encoding:[^\r]*)/gi, (line) => line.replaceAll('\t', ' '));
    if (fixed === head) return null;
    out.write(fixed, start, 'latin1');
    return { input: out, key: 'te-ows', skip: 'headers' };
  }
  if (code === 'HPE_UNEXPECTED_CONTENT_LENGTH' || code === 'HPE_INVALID_CONTENT_LENGTH') {
    // A repeated identical Content-Length in the head, or any in the trailer section (ours drops trailers).
    const line = input.lastIndexOf('\r\n', at, 'latin1') + 2;
    const trailer = line > headEnd;
    if (line <= start || !/^content-length[ \t]*:/i.test(input.toString('latin1', line, line + 20))) return null;
    if (!trailer && !theirs.reason.includes('Duplicate')) return null;
    out[line] = 0x58; // X-ontent-Length: a field without meaning
    return { input: out, key: trailer ? 'trailer' : 'content-length', skip: trailer ? null : 'headers' };
  }
  if (at > headEnd && (code === 'HPE_INVALID_CHUNK_SIZE' || code === 'HPE_STRICT' || code === 'HPE_INVALID_CHUNK_EXTENSIONS')) {
    // The chunk-size line holding the refused byte becomes its size alone, zero-padded to the same length.
    const line = input.lastIndexOf('\n', at - 1) + 1;
    const eol = input.indexOf('\r\n', line, 'latin1');
    if (eol < 0) return null;
    const m = /^([0-9A-Fa-f]+)([ \t]*)(;.*)?$/s.exec(input.toString('latin1', line, eol));
    if (m === null) return null;
    out.write(m[1]!.padStart(eol - line, '0'), line, 'latin1');
    return { input: out, key: m[3] !== undefined && at >= line + m[1]!.length + m[2]!.length ? 'chunk-ext' : 'chunk-size', skip: null };
  }
  return null;
}

/** Compare our trace of `input` with llhttp's; `reparse` parses a rewritten input with llhttp. */
/** `trace` with every offset beyond `at` moved by `delta`. */
function shifted(trace: Trace, at: number, delta: number): Trace {
  return { ...trace, messages: trace.messages.map((m) => (m.end > at ? { ...m, end: m.end + delta } : m)) };
}

export function compare(input: Buffer, ours: Trace, theirs: Trace, reparse: (input: Buffer) => Trace): Verdict {
  const skips: Skips = new Map();
  const lenient: string[] = [];
  let current = input;
  for (let round = 0; round < 8; round++) {
    const s = step(ours, theirs, skips);
    switch (s.kind) {
      case 'mismatch':
        return { kind: 'fail', what: lenient.length > 0 ? `${s.what} (after rewriting ${lenient.join(', ')})` : s.what, message: s.message };
      case 'stricter': {
        const category = stricterCategory(ours.reason);
        if (category === null) return { kind: 'fail', what: `ours refused for a reason not listed: ${ours.reason}`, message: s.message };
        return { kind: 'ours-stricter', category: category.category, reason: ours.reason };
      }
      case 'lenient':
      case 'llhttp-early': {
        const k = s.kind === 'lenient' ? s.message : theirs.messages.length;
        const r = rewrite(current, ours, theirs, k);
        if (r === null) {
          if (s.kind === 'llhttp-early') return lenient.length > 0 ? { kind: 'ours-lenient', categories: lenient } : { kind: 'llhttp-early' };
          return { kind: 'fail', what: `ours accepted what llhttp refused: ${theirs.reason}`, message: k };
        }
        current = r.input;
        if (r.shift !== undefined) ours = shifted(ours, r.shift.at, r.shift.delta);
        if (!lenient.includes(r.key)) lenient.push(r.key);
        if (r.skip !== null) {
          const set = skips.get(k) ?? new Set<string>();
          set.add(r.skip);
          skips.set(k, set);
        }
        theirs = reparse(current);
        continue;
      }
      default:
        return lenient.length > 0 ? { kind: 'ours-lenient', categories: lenient } : { kind: s.kind };
    }
  }
  return { kind: 'fail', what: 'too many rewrites', message: -1 };
}
