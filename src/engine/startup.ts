// The engine's life cycle around serving: the cold start (the model loads before the HTTP server listens) and vLLM's
// sleep mode (POST /sleep, /wake_up, GET /is_sleeping). README.md ("Start-up and sleep mode") gives the sources.
//
// Rules:
//   - The cold start is the profile's phases (profiles.ts StartupProfile), scaled so that they add up to
//     --startup-seconds; the wake-ups scale by the same factor, so a shortened start shortens them too and
//     level 1 < level 2 < cold start always holds.
//   - Sleep (level 1: weights offloaded to host memory; level 2: weights discarded) aborts what is running or waiting
//     and empties the prefix cache, as vLLM's sleep does (it resets the prefix cache and frees the KV cache).
//   - From sleep until the end of the wake-up, generation requests get 503; everything else (health, metrics, models,
//     tokenize) answers as usual. Wake-up takes level 1's or level 2's time; concurrent wake-ups share one.
import { coldStartSeconds, type StartupProfile } from './profiles.ts';

export interface StartupPhase {
  /** What vLLM does in the phase (logged as the engine "loads"). */
  name: string;
  seconds: number;
}

export interface LifecyclePlan {
  phases: StartupPhase[];
  /** Sum of the phases: seconds from start until the server listens. */
  coldStartSeconds: number;
  /** Wake-up time from sleep level 1 and level 2. */
  wakeSeconds: Readonly<Record<SleepLevel, number>>;
}

export type SleepLevel = 1 | 2;

/** The profile's phases scaled to `startupSeconds` in total. */
export function lifecyclePlan(profile: StartupProfile, startupSeconds: number): LifecyclePlan {
  const total = coldStartSeconds(profile);
  const k = total > 0 ? startupSeconds / total : 0;
  const phases: StartupPhase[] = [
    { name: 'boot: imports, engine core process, CUDA context', seconds: profile.bootSeconds * k },
    { name: 'load weights', seconds: profile.loadWeightsSeconds * k },
    { name: 'torch.compile', seconds: profile.compileSeconds * k },
    { name: 'memory profiling, KV cache, CUDA graph capture', seconds: profile.cudaGraphSeconds * k },
  ];
  return {
    phases,
    coldStartSeconds: startupSeconds,
    wakeSeconds: { 1: profile.wakeFromCpuSeconds * k, 2: (profile.loadWeightsSeconds + profile.wakeFromCpuSeconds) * k },
  };
}

/** Waits out the cold start phase by phase, reporting each one as it ends. */
export async function runColdStart(plan: LifecyclePlan, log: (line: string) => void): Promise<void> {
  if (plan.coldStartSeconds <= 0) return;
  for (const phase of plan.phases) {
    await delay(phase.seconds * 1000);
    log(`${phase.name} took ${phase.seconds.toFixed(2)} s (simulated)`);
  }
  log(`ready after ${plan.coldStartSeconds.toFixed(2)} s (simulated start-up)`);
}

/** vLLM's `vllm:engine_sleep_state` label values: awake, sleep level 1, sleep level 2. */
export const SLEEP_STATE_LABELS = ['awake', 'weights_offloaded', 'discard_all'] as const;

export interface SleepHooks {
  /** Abort every running and waiting sequence and empty the prefix cache. */
  discardKvCache(): void;
}

export class SleepMode {
  #level: 0 | SleepLevel = 0;
  #waking: Promise<void> | undefined;
  readonly #wakeSeconds: Readonly<Record<SleepLevel, number>>;
  readonly #hooks: SleepHooks;

  constructor(plan: LifecyclePlan, hooks: SleepHooks) {
    this.#wakeSeconds = plan.wakeSeconds;
    this.#hooks = hooks;
  }

  /** 0 awake, else the sleep level (still set while waking up). */
  get level(): 0 | SleepLevel {
    return this.#level;
  }

  /** True from sleep until a wake-up has finished (vLLM's /is_sleeping). */
  get sleeping(): boolean {
    return this.#level !== 0;
  }

  /** Sleep at `level`; a deeper level than the current one replaces it, a shallower one changes nothing. */
  async sleep(level: SleepLevel): Promise<void> {
    if (this.#waking) await this.#waking;
    this.#hooks.discardKvCache();
    if (level > this.#level) this.#level = level;
  }

  /** Wake up: resolves when the weights are back and the KV cache is allocated. */
  wakeUp(): Promise<void> {
    if (this.#level === 0) return Promise.resolve();
    this.#waking ??= delay(this.#wakeSeconds[this.#level] * 1000).then(() => {
      this.#level = 0;
      this.#waking = undefined;
    });
    return this.#waking;
  }
}

function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
