// Tokenization behind an interface, so the HTTP layer and the scheduler do not care which tokenizer runs.
//
// Llama3Tokenizer (the default): the exact Llama-3 / Llama-3.1 byte-level BPE (128,000 ranks + 256 special tokens,
// Meta's pre-tokenizer regex), the tokenizer of the 8B and 70B profiles. Its vocabulary ships inside the npm package
// `llama3-tokenizer-js` (MIT), so nothing is downloaded at run time. We read that package's vocabulary and run
// tiktoken's rank-based merge ourselves (Meta's reference tokenizer is tiktoken; a token's id is its merge rank),
// which needs only the vocabulary (≈ 50 MB less memory per engine than the package's merge table) and is several
// times faster. tokenizer.test.ts checks that the ids equal the package's own encoder on prose, code, JSON and
// non-Latin text.
//
// Speed: pieces (pre-tokens) are memoized, and whole prompts of ≥ 1 KiB are kept in a small LRU, so the long shared
// system prompts of routing benchmarks cost a map lookup after the first time; a prompt that extends a remembered
// one (a conversation's next turn: the previous prompt, the answer, a new message) reuses its tokens up to a piece
// boundary PREFIX_MARGIN characters before its end and encodes only the rest (README: "Tokenizer").
//
// ApproxTokenizer (`--tokenizer approx`): the previous regex approximation (≈ 4 characters per token, hashed ids),
// for runs of very many engines where memory matters more than exact counts. It cannot detokenize.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export interface Tokenizer {
  readonly name: string;
  /** Token ids of `text`; special tokens written out (`<|eot_id|>`) map to their ids. Equal texts give equal ids. */
  encode(text: string): number[];
  /** Number of tokens in `text`; may be cheaper than encode().length. */
  count(text: string): number;
  /** Text of token ids (ids outside the vocabulary throw RangeError). */
  decode(ids: readonly number[]): string;
  /** A token as the vocabulary spells it (Hugging Face convert_ids_to_tokens: "Ġhello" for " hello"). */
  idToToken(id: number): string;
  /** Prepended to completion prompts (vLLM tokenizes them with add_special_tokens=True), or undefined. */
  readonly bosTokenId: number | undefined;
  /** Vocabulary size including special tokens. */
  readonly vocabSize: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Llama-3 BPE

/** Meta's pre-tokenizer pattern (llama3 tokenizer.py `pat_str`), with the case-insensitive group spelled out for JS. */
const LLAMA3_PATTERN =
  /'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;
const SPECIAL_PATTERN = /<\|[a-z0-9_]+\|>/g;
const NUM_BASE_TOKENS = 128_000;

/** Llama-3's 256 special tokens, in id order from 128000. */
export const LLAMA3_SPECIAL_TOKENS: readonly string[] = (() => {
  const names = [
    '<|begin_of_text|>',
    '<|end_of_text|>',
    '<|reserved_special_token_0|>',
    '<|reserved_special_token_1|>',
    '<|finetune_right_pad_id|>',
    '<|reserved_special_token_2|>',
    '<|start_header_id|>',
    '<|end_header_id|>',
    '<|eom_id|>',
    '<|eot_id|>',
    '<|python_tag|>',
  ];
  for (let i = 3; i <= 247; i++) names.push(`<|reserved_special_token_${i}|>`);
  return names;
})();

/** GPT-2's bytes_to_unicode: byte → printable stand-in character. */
const BYTE_TO_UNICODE: string[] = (() => {
  const out: string[] = [];
  for (const [u, b] of unicodeToByte()) out[b] = String.fromCharCode(u);
  return out;
})();

/** GPT-2's bytes_to_unicode inverse: printable stand-in character → byte. */
function unicodeToByte(): Map<number, number> {
  const bs: number[] = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const m = new Map<number, number>();
  bs.forEach((b, i) => m.set(cs[i]!, b));
  return m;
}

/** The base64 vocabulary (one byte-mapped token per line, line number = id) from the llama3-tokenizer-js package. */
function readPackagedVocabulary(): string {
  const require = createRequire(import.meta.url);
  const marker = 'llama_vocab_base64 = "';
  const candidates: string[] = [];
  try {
    candidates.push(require.resolve('llama3-tokenizer-js/src/data-converted.js'));
  } catch {
    /* not in this version: fall back to the bundle */
  }
  candidates.push(require.resolve('llama3-tokenizer-js'));
  for (const file of candidates) {
    const text = readFileSync(file, 'utf8');
    const start = text.indexOf(marker);
    if (start < 0) continue;
    const end = text.indexOf('"', start + marker.length);
    if (end > start) return text.slice(start + marker.length, end);
  }
  throw new Error('llama3-tokenizer-js: vocabulary not found in the package (unexpected package layout)');
}

interface Vocabulary {
  /** Token byte string (one char per byte, latin1) → id. */
  ranks: Map<string, number>;
  /** id → token byte string (latin1), special tokens as their text. */
  bytesById: string[];
  special: Map<string, number>;
}

let vocabulary: Vocabulary | undefined;

function loadVocabulary(): Vocabulary {
  if (vocabulary) return vocabulary;
  const lines = Buffer.from(readPackagedVocabulary(), 'base64').toString('utf8').split('\n');
  if (lines.length < NUM_BASE_TOKENS) throw new Error(`llama3-tokenizer-js: vocabulary has ${lines.length} tokens, expected ${NUM_BASE_TOKENS}`);
  const u2b = unicodeToByte();
  const ranks = new Map<string, number>();
  const bytesById: string[] = new Array(NUM_BASE_TOKENS + LLAMA3_SPECIAL_TOKENS.length);
  for (let id = 0; id < NUM_BASE_TOKENS; id++) {
    const mapped = lines[id]!;
    let s = '';
    for (let i = 0; i < mapped.length; i++) s += String.fromCharCode(u2b.get(mapped.charCodeAt(i)) ?? 0);
    bytesById[id] = s;
    ranks.set(s, id);
  }
  const special = new Map<string, number>();
  LLAMA3_SPECIAL_TOKENS.forEach((t, i) => {
    special.set(t, NUM_BASE_TOKENS + i);
    bytesById[NUM_BASE_TOKENS + i] = t;
  });
  vocabulary = { ranks, bytesById, special };
  return vocabulary;
}

const PIECE_CACHE_LIMIT = 200_000;
const PROMPT_CACHE_ENTRIES = 128;
/** Bounds the remembered prompts' text (UTF-16 code units; their ids take about as many bytes again). */
const PROMPT_CACHE_MAX_CHARS = 4_000_000;
const PROMPT_CACHE_MIN_CHARS = 1024;
/**
 * Tokens of a remembered prompt are reused for a longer text only up to the last piece that ends this many characters
 * before the remembered prompt's end. Why a boundary there is also one in the longer text: every alternative of the
 * pre-tokenizer pattern decides a match from the characters it spans plus at most the next one, unless its scan
 * reaches the end of the text (a run of letters, digits, spaces or newlines that the longer text continues) — and
 * such a match ends at the end, inside the margin. A special token (`<|…|>`, at most 30 characters) cut by the
 * end starts inside the margin too. tokenizer.test.ts checks the result against whole-text encoding.
 */
const PREFIX_MARGIN = 64;

/** A remembered prompt: its ids, and where its tokens may be reused from in a text that extends it. */
interface RememberedPrompt {
  readonly ids: number[];
  /** Characters before the reuse boundary, and the tokens they encode to. */
  readonly cutChars: number;
  readonly cutTokens: number;
}

export class Llama3Tokenizer implements Tokenizer {
  readonly name = 'llama3-bpe';
  readonly bosTokenId = NUM_BASE_TOKENS; // <|begin_of_text|>
  readonly vocabSize = NUM_BASE_TOKENS + LLAMA3_SPECIAL_TOKENS.length;
  private readonly vocab: Vocabulary;
  /** Pre-token text → its id (one token, the usual case) or ids. */
  private pieces = new Map<string, number | number[]>();
  /** Long prompts → ids and reuse boundary, least recently used first; their total length. */
  private readonly prompts = new Map<string, RememberedPrompt>();
  private promptChars = 0;
  // The last piece boundary at least PREFIX_MARGIN characters before the end of the text being encoded (set while
  // encoding: characters, tokens before it).
  private cutChars = 0;
  private cutTokens = 0;
  private cutLimit = 0;
  /** Tokens taken from remembered prompts instead of being encoded again (tests, benchmarks). */
  reusedTokens = 0;

  constructor() {
    this.vocab = loadVocabulary();
  }

  encode(text: string): number[] {
    const long = text.length >= PROMPT_CACHE_MIN_CHARS;
    let out: number[];
    let from = 0;
    if (long) {
      const hit = this.prompts.get(text);
      if (hit) {
        this.prompts.delete(text);
        this.prompts.set(text, hit);
        return hit.ids.slice();
      }
      const base = this.rememberedPrefixOf(text);
      out = base === null ? [] : base.ids.slice(0, base.cutTokens);
      from = base === null ? 0 : base.cutChars;
      this.reusedTokens += out.length;
    } else out = [];
    this.cutChars = from;
    this.cutTokens = out.length;
    this.cutLimit = text.length - PREFIX_MARGIN;
    let last = from;
    if (text.includes('<|', from)) {
      SPECIAL_PATTERN.lastIndex = from;
      for (let m = SPECIAL_PATTERN.exec(text); m !== null; m = SPECIAL_PATTERN.exec(text)) {
        const id = this.vocab.special.get(m[0]);
        if (id === undefined) continue;
        if (m.index > last) this.encodeOrdinary(text.slice(last, m.index), last, out);
        out.push(id);
        last = m.index + m[0].length;
        this.boundary(last, out.length);
      }
    }
    if (last < text.length) this.encodeOrdinary(last === 0 ? text : text.slice(last), last, out);
    if (long) this.remember(text, { ids: out.slice(), cutChars: this.cutChars, cutTokens: this.cutTokens });
    return out;
  }

  /** A piece or special token ends at `chars`, after `tokens` tokens: the reuse boundary if far enough from the end. */
  private boundary(chars: number, tokens: number): void {
    if (chars <= this.cutLimit) {
      this.cutChars = chars;
      this.cutTokens = tokens;
    }
  }

  /** The longest remembered prompt that `text` extends (its reuse boundary past 0), or null. */
  private rememberedPrefixOf(text: string): RememberedPrompt | null {
    let best: RememberedPrompt | null = null;
    let bestKey = '';
    for (const [p, r] of this.prompts) {
      const n = p.length;
      // Cheap rejections first: most remembered prompts differ from `text` in their last character.
      if (n >= text.length || n <= bestKey.length || r.cutChars === 0 || p.charCodeAt(n - 1) !== text.charCodeAt(n - 1) || !text.startsWith(p)) continue;
      best = r;
      bestKey = p;
    }
    if (best !== null) {
      // Refresh the one used (the conversation it belongs to is active).
      this.prompts.delete(bestKey);
      this.prompts.set(bestKey, best);
    }
    return best;
  }

  private remember(text: string, r: RememberedPrompt): void {
    if (text.length > PROMPT_CACHE_MAX_CHARS) return;
    const prompts = this.prompts;
    while (prompts.size > 0 && (prompts.size >= PROMPT_CACHE_ENTRIES || this.promptChars + text.length > PROMPT_CACHE_MAX_CHARS)) {
      const oldest = prompts.keys().next().value!;
      prompts.delete(oldest);
      this.promptChars -= oldest.length;
    }
    prompts.set(text, r);
    this.promptChars += text.length;
  }

  count(text: string): number {
    return this.encode(text).length;
  }

  decode(ids: readonly number[]): string {
    const { bytesById } = this.vocab;
    let bytes = '';
    let out = '';
    for (const id of ids) {
      const t = Number.isInteger(id) ? bytesById[id] : undefined;
      if (t === undefined) throw new RangeError(`token id ${id} is out of vocabulary`);
      if (id >= NUM_BASE_TOKENS) {
        out += Buffer.from(bytes, 'latin1').toString('utf8') + t;
        bytes = '';
      } else bytes += t;
    }
    return out + Buffer.from(bytes, 'latin1').toString('utf8');
  }

  idToToken(id: number): string {
    const t = Number.isInteger(id) ? this.vocab.bytesById[id] : undefined;
    if (t === undefined) throw new RangeError(`token id ${id} is out of vocabulary`);
    if (id >= NUM_BASE_TOKENS) return t;
    let s = '';
    for (let i = 0; i < t.length; i++) s += BYTE_TO_UNICODE[t.charCodeAt(i)]!;
    return s;
  }

  /** Encodes `text`, which starts at character `offset` of the whole text (for the reuse boundary). */
  private encodeOrdinary(text: string, offset: number, out: number[]): void {
    const pieces = this.pieces;
    // Pieces ending at or before this (relative) index may set the reuse boundary.
    const limit = this.cutLimit - offset;
    LLAMA3_PATTERN.lastIndex = 0;
    for (let m = LLAMA3_PATTERN.exec(text); m !== null; m = LLAMA3_PATTERN.exec(text)) {
      const p = m[0];
      const cached = pieces.get(p);
      if (cached !== undefined) {
        if (typeof cached === 'number') out.push(cached);
        else for (const id of cached) out.push(id);
      } else {
        const ids = this.bpe(toByteString(p));
        if (pieces.size >= PIECE_CACHE_LIMIT) this.pieces = new Map();
        this.pieces.set(p, ids.length === 1 ? ids[0]! : ids);
        for (const id of ids) out.push(id);
      }
      const end = LLAMA3_PATTERN.lastIndex;
      if (end <= limit) {
        this.cutChars = offset + end;
        this.cutTokens = out.length;
      }
    }
  }

  /** tiktoken's byte-pair merge: repeatedly merge the adjacent pair whose concatenation has the lowest rank. */
  private bpe(piece: string): number[] {
    const { ranks } = this.vocab;
    const whole = ranks.get(piece);
    if (whole !== undefined) return [whole];
    const bounds: number[] = [];
    for (let i = 0; i <= piece.length; i++) bounds.push(i);
    const rankAt = (i: number): number => {
      if (i + 2 >= bounds.length) return Infinity;
      return ranks.get(piece.slice(bounds[i], bounds[i + 2])) ?? Infinity;
    };
    const pairRanks: number[] = [];
    for (let i = 0; i < bounds.length - 1; i++) pairRanks.push(rankAt(i));
    while (bounds.length > 2) {
      let min = Infinity;
      let at = -1;
      for (let i = 0; i < pairRanks.length - 1; i++) {
        if (pairRanks[i]! < min) {
          min = pairRanks[i]!;
          at = i;
        }
      }
      if (at < 0) break;
      bounds.splice(at + 1, 1);
      pairRanks.splice(at + 1, 1);
      pairRanks[at] = rankAt(at);
      if (at > 0) pairRanks[at - 1] = rankAt(at - 1);
    }
    const ids: number[] = [];
    for (let i = 0; i < bounds.length - 1; i++) {
      const id = ranks.get(piece.slice(bounds[i], bounds[i + 1]));
      if (id === undefined) throw new Error('llama3 tokenizer: a single byte is missing from the vocabulary');
      ids.push(id);
    }
    return ids;
  }
}

/** UTF-8 bytes of `s` as a latin1 string (one char per byte); ASCII strings are returned as they are. */
function toByteString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 127) return Buffer.from(s, 'utf8').toString('latin1');
  }
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// Approximation

// A GPT-style regex pre-tokenizer (contractions, letter runs with their leading space, digit runs, punctuation runs,
// whitespace), then letter runs split into pieces of at most 6 characters, digit runs into groups of 3 (as Llama-3
// does), punctuation and whitespace into pieces of 4. Special tokens written `<|name|>` count as one. On English
// prose this gives about 4 characters per token. Token ids are a 32-bit FNV-1a hash of each piece modulo the
// vocabulary size: stable across processes.

const PRETOKENIZE =
  /<\|[A-Za-z0-9_]+\|>|'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const VOCAB_SIZE = 128_256; // Llama-3's

function fnv1a(s: string, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function pieceLimit(first: number): number {
  // first char code of the pre-token (after an optional leading space)
  if (first >= 48 && first <= 57) return 3; // digits
  if ((first >= 65 && first <= 90) || (first >= 97 && first <= 122) || first > 127) return 6; // letters (incl. non-ASCII)
  return 4; // punctuation, whitespace
}

export class ApproxTokenizer implements Tokenizer {
  readonly name = 'approx-regex';
  readonly bosTokenId = undefined;
  readonly vocabSize = VOCAB_SIZE;

  encode(text: string): number[] {
    const ids: number[] = [];
    this.walk(text, (from, to) => ids.push(fnv1a(text, from, to) % VOCAB_SIZE));
    return ids;
  }

  count(text: string): number {
    let n = 0;
    this.walk(text, () => n++);
    return n;
  }

  decode(_ids: readonly number[]): string {
    throw new RangeError('the approximate tokenizer (--tokenizer approx) cannot detokenize');
  }

  idToToken(_id: number): string {
    throw new RangeError('the approximate tokenizer (--tokenizer approx) has no vocabulary');
  }

  private walk(text: string, emit: (from: number, to: number) => void): void {
    PRETOKENIZE.lastIndex = 0;
    for (let m = PRETOKENIZE.exec(text); m !== null; m = PRETOKENIZE.exec(text)) {
      const start = m.index;
      const end = start + m[0].length;
      if (m[0].startsWith('<|')) {
        emit(start, end);
        continue;
      }
      const lead = m[0].length > 1 && text.charCodeAt(start) === 32 ? 1 : 0;
      const limit = pieceLimit(text.charCodeAt(start + lead)) + lead;
      // The first piece carries the leading space; later pieces are `limit - lead` long.
      let from = start;
      let to = Math.min(end, start + limit);
      emit(from, to);
      while (to < end) {
        from = to;
        to = Math.min(end, from + limit - lead);
        emit(from, to);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------

export const TOKENIZER_KINDS = ['llama3', 'approx'] as const;

let sharedLlama3: Llama3Tokenizer | undefined;

/**
 * The tokenizer for `--tokenizer` (`approx`, or anything else: the Llama-3 BPE, whatever Hugging Face name a pod
 * spec passes, since no vocabulary can be downloaded here). One Llama-3 instance per process, shared by engines.
 */
export function createTokenizer(kind = 'llama3'): Tokenizer {
  if (kind === 'approx') return new ApproxTokenizer();
  sharedLlama3 ??= new Llama3Tokenizer();
  return sharedLlama3;
}
