// Pickers: the last step of scheduling.
import type { Endpoint } from './endpoint.ts';
import type { Picker } from './types.ts';

/** The highest score and how many candidates share it. */
function best(scores: Float64Array, n: number): { top: number; ties: number } {
  let top = -Infinity;
  let ties = 0;
  for (let i = 0; i < n; i++) {
    const s = scores[i]!;
    if (s > top) {
      top = s;
      ties = 1;
    } else if (s === top) {
      ties++;
    }
  }
  return { top, ties };
}

/** The k-th (0-based) candidate among those scored `top`. */
function nthWithScore(candidates: readonly Endpoint[], scores: Float64Array, top: number, k: number): Endpoint | undefined {
  const n = candidates.length;
  let seen = 0;
  for (let i = 0; i < n; i++) {
    if (scores[i] === top) {
      if (seen === k) return candidates[i];
      seen++;
    }
  }
  return candidates[n - 1];
}

/**
 * Highest score; ties go to the candidate picked least recently (`Endpoint.pickSeq`), so with no scorers, or equal
 * scores, picks rotate over the candidates like round-robin, and a pod that was just sent a request (still busy
 * with it) is the last choice among equals.
 */
export class MaxScoreRoundRobinPicker implements Picker {
  readonly name = 'max-score-round-robin';

  pick(candidates: readonly Endpoint[], scores: Float64Array, _cursor: { rr: number }): Endpoint | undefined {
    const n = candidates.length;
    let chosen: Endpoint | undefined;
    let top = -Infinity;
    let seq = Infinity;
    for (let i = 0; i < n; i++) {
      const s = scores[i]!;
      const ep = candidates[i]!;
      if (s > top || (s === top && ep.pickSeq < seq)) {
        top = s;
        seq = ep.pickSeq;
        chosen = ep;
      }
    }
    return chosen;
  }
}

/** Uniformly random among the highest-scored candidates (with no scorers: uniformly random). */
export class RandomPicker implements Picker {
  readonly name = 'random';
  readonly random: () => number;

  constructor(random: () => number = Math.random) {
    this.random = random;
  }

  pick(candidates: readonly Endpoint[], scores: Float64Array, _cursor: { rr: number }): Endpoint | undefined {
    if (candidates.length === 0) return undefined;
    const { top, ties } = best(scores, candidates.length);
    return nthWithScore(candidates, scores, top, Math.floor(this.random() * ties));
  }
}
