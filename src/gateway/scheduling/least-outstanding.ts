// Least outstanding requests: the gateway's own in-flight counter per endpoint (incremented when a request is
// sent, decremented exactly once when it ends, however it ends). Score = (max − inflight) / max · 100, so the
// least loaded endpoints score 100; with nothing in flight every endpoint scores 100.
import type { Endpoint } from './endpoint.ts';
import { WeightedScorer, type SchedulingRequest } from './types.ts';

export class LeastOutstandingScorer extends WeightedScorer {
  readonly name = 'least-request';

  score(_req: SchedulingRequest, candidates: readonly Endpoint[], out: Float64Array): void {
    const n = candidates.length;
    let max = 0;
    for (let i = 0; i < n; i++) {
      const f = candidates[i]!.inflight;
      if (f > max) max = f;
    }
    if (max === 0) {
      out.fill(100, 0, n);
      return;
    }
    for (let i = 0; i < n; i++) out[i] = ((max - candidates[i]!.inflight) / max) * 100;
  }
}
