// Kubelet-like crash-loop back-off. The kubelet waits 10 s before the first restart of a crashed container and
// doubles up to 5 min; locally the first delay is 1 s (a developer waiting on a typo should not wait 10 s), then
// 2, 4, 8 … capped at 5 min. As in the kubelet, a container that ran for 10 min without failing starts over at the
// initial delay.

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** A run at least this long resets the back-off. */
  resetAfterMs?: number;
}

export const LOCAL_BACKOFF: Required<BackoffOptions> = { initialMs: 1_000, maxMs: 300_000, resetAfterMs: 600_000 };

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly resetAfterMs: number;
  private current = 0;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? LOCAL_BACKOFF.initialMs;
    this.maxMs = opts.maxMs ?? LOCAL_BACKOFF.maxMs;
    this.resetAfterMs = opts.resetAfterMs ?? LOCAL_BACKOFF.resetAfterMs;
  }

  /** Delay before the next restart of a container that just exited after running `ranMs`. */
  next(ranMs: number): number {
    if (ranMs >= this.resetAfterMs) this.current = 0;
    this.current = this.current === 0 ? this.initialMs : Math.min(this.current * 2, this.maxMs);
    return this.current;
  }

  reset(): void {
    this.current = 0;
  }

  /** The last delay handed out (0 before the first). */
  get lastMs(): number {
    return this.current;
  }
}
