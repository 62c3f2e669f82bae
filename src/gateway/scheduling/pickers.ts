// Pickers: the last step of scheduling.
import type { Endpoint } from './endpoint.ts';
import type { Picker } from './types.ts';

/** Highest score; ties are broken round-robin (the cursor advances on every pick). */
export class MaxScoreRoundRobinPicker implements Picker {
  readonly name = 'max-score-round-robin';

  pick(candidates: readonly Endpoint[], scores: Float64Array, cursor: { rr: number }): Endpoint | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    let best = -Infinity;
    let ties = 0;
    for (let i = 0; i < n; i++) {
      const s = scores[i]!;
      if (s > best) {
        best = s;
        ties = 1;
      } else if (s === best) {
        ties++;
      }
    }
    const k = cursor.rr++ % ties;
    if (cursor.rr >= 0x3fffffff) cursor.rr = 0;
    let seen = 0;
    for (let i = 0; i < n; i++) {
      if (scores[i] === best) {
        if (seen === k) return candidates[i];
        seen++;
      }
    }
    return candidates[n - 1];
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
    const n = candidates.length;
    if (n === 0) return undefined;
    let best = -Infinity;
    let ties = 0;
    for (let i = 0; i < n; i++) {
      const s = scores[i]!;
      if (s > best) {
        best = s;
        ties = 1;
      } else if (s === best) {
        ties++;
      }
    }
    const k = Math.floor(this.random() * ties);
    let seen = 0;
    for (let i = 0; i < n; i++) {
      if (scores[i] === best) {
        if (seen === k) return candidates[i];
        seen++;
      }
    }
    return candidates[n - 1];
  }
}
