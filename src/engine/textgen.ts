// Deterministic pseudo-text: the simulated model's output. Each output token is one piece of a fixed lorem corpus
// (a word with its leading space, or a period), chosen by a PRNG seeded from the prompt, the request seed and the
// choice index, so the same request always gets the same answer. The JSON encoding of every piece is precomputed:
// emitting a token costs an array lookup, no JSON.stringify.

import { seededRandom } from './latency.ts';

const WORDS = (
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna ' +
  'aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo consequat duis ' +
  'aute irure in reprehenderit voluptate velit esse cillum fugiat nulla pariatur excepteur sint occaecat cupidatat ' +
  'non proident sunt culpa qui officia deserunt mollit anim id est laborum curabitur pretium tincidunt lacus nunc ' +
  'pulvinar sapien vitae tellus viverra accumsan mauris blandit aliquet elementum integer quam nisl vel pharetra ' +
  'vulputate faucibus ornare suspendisse sed risus ultricies tristique nullam ac turpis egestas maecenas volutpat ' +
  'lectus proin gravida hendrerit sagittis orci eu lobortis feugiat vivamus at augue eget arcu dictum varius duis'
).split(' ');

const N = WORDS.length;
// Piece layout: [0, N) " word"; [N, 2N) " Word"; [2N, 3N) "Word" (answer start); 3N "."
const PIECES: string[] = [
  ...WORDS.map((w) => ' ' + w),
  ...WORDS.map((w) => ' ' + w[0]!.toUpperCase() + w.slice(1)),
  ...WORDS.map((w) => w[0]!.toUpperCase() + w.slice(1)),
  '.',
];
const PERIOD = 3 * N;

/** The text of each piece index. */
export const pieceText: readonly string[] = PIECES;
/** JSON string literal of each piece index (quotes included). */
export const pieceJson: readonly string[] = PIECES.map((p) => JSON.stringify(p));
/** UTF-8 length of each pieceJson entry (HTTP chunk sizes without measuring every event). */
export const pieceJsonBytes: readonly number[] = pieceJson.map((j) => Buffer.byteLength(j));

/** 32-bit FNV-1a of a string, for seeding. */
export function hashString(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** An endless deterministic stream of piece indices forming sentences of 5 to 14 words. */
export class TextStream {
  private readonly random: () => number;
  private sentenceLeft: number;
  private started = false;
  private capitalize = false;

  constructor(seed: number) {
    this.random = seededRandom(seed);
    this.sentenceLeft = this.sentenceLength();
  }

  private sentenceLength(): number {
    return 5 + Math.floor(this.random() * 10);
  }

  next(): number {
    const word = Math.floor(this.random() * N);
    if (!this.started) {
      this.started = true;
      this.sentenceLeft--;
      return 2 * N + word;
    }
    if (this.sentenceLeft <= 0) {
      this.sentenceLeft = this.sentenceLength();
      this.capitalize = true;
      return PERIOD;
    }
    this.sentenceLeft--;
    if (this.capitalize) {
      this.capitalize = false;
      return N + word;
    }
    return word;
  }
}

/** A deterministic natural answer length in [ceil(max/2), max] for a seed: where the simulated model emits EOS. */
export function naturalLength(seed: number, max: number): number {
  const lo = Math.ceil(max / 2);
  return lo + Math.floor(seededRandom(seed ^ 0x5bd1e995)() * (max - lo + 1));
}
