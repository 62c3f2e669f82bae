// Health probes of StaticRoute backends, off the reconcile path: one timer per StaticRoute (every periodSeconds, the
// first round at once), each round probing every backend in parallel, keeping each backend's history (static-route.ts
// nextHealth) and then telling the controller (`onRound`), which writes the status. A probe is `GET <url>/health`, and
// when that does not answer 2xx, `GET <url>/v1/models`; a request silent for timeoutSeconds fails. A StaticRoute whose
// backends or thresholds change starts over; one that is gone is forgotten. Only the leader's controller runs rounds.
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { nowTime } from '../../kube/objects.ts';
import { nextHealth, type BackendHealth, type HealthCheck } from './static-route.ts';
import { KeyedRounds, type RoundTarget } from './rounds.ts';

export type ProbeResult = { ok: boolean; message: string };
export type Probe = (url: string, timeoutMs: number) => Promise<ProbeResult>;

/** One GET through node:http(s) (not fetch, which refuses the ports browsers block), bounded by `timeoutMs`. */
function get(url: string, timeoutMs: number): Promise<ProbeResult> {
  const path = new URL(url).pathname;
  return new Promise((resolve) => {
    const request = (url.startsWith('https:') ? httpsGet : httpGet)(url, { timeout: timeoutMs, headers: { accept: 'application/json' } }, (response) => {
      response.resume();
      const status = response.statusCode ?? 0;
      resolve({ ok: status >= 200 && status < 300, message: `GET ${path} ${status}` });
    });
    request.on('timeout', () => request.destroy(Object.assign(new Error('timed out'), { code: 'timed out' })));
    request.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, message: `GET ${path}: ${err.code ?? err.message}` }));
  });
}

/** GET /health, else GET /v1/models. */
export const probeBackend: Probe = async (url, timeoutMs) => {
  const health = await get(`${url}/health`, timeoutMs);
  if (health.ok) return health;
  const models = await get(`${url}/v1/models`, timeoutMs);
  return models.ok ? models : { ok: false, message: `${health.message}; ${models.message}` };
};

interface Target extends RoundTarget {
  urls: string[];
  check: HealthCheck;
  signature: string;
  health: Map<string, BackendHealth>;
}

export class BackendProber extends KeyedRounds<Target> {
  private readonly probe: Probe;

  constructor(onRound: (key: string) => void, probe: Probe = probeBackend) {
    super(onRound);
    this.probe = probe;
  }

  /** Probe these backends of `key` with these settings (a change starts over; the same is a no-op). */
  ensure(key: string, urls: readonly string[], check: HealthCheck): void {
    if (this.stopped) return;
    const signature = JSON.stringify([urls, check]);
    const existing = this.targets.get(key);
    if (existing?.signature === signature) return;
    const target: Target = { urls: [...urls], check, signature, health: new Map() };
    // Backends that stay keep their history.
    for (const url of urls) {
      const h = existing?.health.get(url);
      if (h) target.health.set(url, h);
    }
    this.start(key, target);
  }

  /** The latest results of `key`, by URL. */
  results(key: string): ReadonlyMap<string, BackendHealth> {
    return this.targets.get(key)?.health ?? new Map();
  }

  protected async round(key: string, target: Target): Promise<void> {
    const timeoutMs = target.check.timeoutSeconds * 1000;
    const results = await Promise.all(target.urls.map((url) => this.probe(url, timeoutMs)));
    // Reconfigured or forgotten meanwhile: this round's results belong to no one.
    if (!this.current(key, target)) return;
    const now = nowTime();
    target.urls.forEach((url, i) => target.health.set(url, nextHealth(target.health.get(url), results[i]!.ok, results[i]!.message, target.check, now)));
    this.finish(key, target, target.check.periodSeconds * 1000);
  }
}
