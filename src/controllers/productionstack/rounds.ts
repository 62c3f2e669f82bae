// Periodic rounds per key, off the reconcile loop: the skeleton the StaticRoute prober and the InferenceCache stats
// collector share. Each key has one target and one timer (unref'd, so it never keeps a process alive); a round that
// finishes after its target was replaced or forgotten is dropped; `onRound(key)` tells the controller to reconcile.
export interface RoundTarget {
  timer?: NodeJS.Timeout;
}

export abstract class KeyedRounds<T extends RoundTarget> {
  protected readonly targets = new Map<string, T>();
  protected readonly onRound: (key: string) => void;
  protected stopped = false;

  constructor(onRound: (key: string) => void) {
    this.onRound = onRound;
  }

  /** One round for `key`: gather, then `finish` (which checks the target is still current). */
  protected abstract round(key: string, target: T): Promise<void>;

  /** Make `target` the key's (replacing any other) and run its first round after `delayMs`. */
  protected start(key: string, target: T, delayMs = 0): void {
    const existing = this.targets.get(key);
    if (existing?.timer && existing !== target) clearTimeout(existing.timer);
    this.targets.set(key, target);
    this.schedule(key, target, delayMs);
  }

  /** A round's results still belong to `target`: not stopped, not replaced or forgotten meanwhile. */
  protected current(key: string, target: T): boolean {
    return !this.stopped && this.targets.get(key) === target;
  }

  /** The round is done: tell the controller and run the next one in `delayMs`. */
  protected finish(key: string, target: T, delayMs: number): void {
    this.onRound(key);
    this.schedule(key, target, delayMs);
  }

  forget(key: string): void {
    const target = this.targets.get(key);
    if (target?.timer) clearTimeout(target.timer);
    this.targets.delete(key);
  }

  stop(): void {
    this.stopped = true;
    for (const key of [...this.targets.keys()]) this.forget(key);
  }

  private schedule(key: string, target: T, delayMs: number): void {
    target.timer = setTimeout(() => void this.round(key, target), delayMs);
    target.timer.unref();
  }
}
