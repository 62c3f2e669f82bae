// The dashboard's scraper: every period, every gateway's /metrics and every ready engine pod's, turned into one row
// per model in that model's history (table.ts), plus the autoscaler decisions seen in the bindings' status.
// Rules:
//  - Reads only: GETs of /metrics and the informer caches; it never writes to the API.
//  - Each process (gateway URL, pod) keeps its previous reading for its window; a process that fails to answer
//    this period gives no window (its figures are missing from the row, not zero) and keeps its previous reading.
//  - A model's row is pushed every period while the Model exists; a model gone takes its history with it.
//  - Memory is bounded: rows per model by the table's capacity, decisions by the history's span.
//  - GETs go through node:http, not fetch: fetch would load undici (about 17 MiB) into a manager that may not need it.
import { get } from 'node:http';
import type { AutoscalingPolicyBinding } from '../api/kinds/index.ts';
import type { KubeObject } from '../api/admission.ts';
import { MODELINFER_NAME_LABEL } from '../api/labels.ts';
import { isDeleting, isPodReady } from '../kube/objects.ts';
import { ENGINE_SPEC, GATEWAY_SPEC, modelRow } from './figures.ts';
import { addWindows, readExposition, windowOf, type Reading, type ReadingWindow, type ReadSpec } from './readings.ts';
import { SeriesTable } from './table.ts';
import { bindingOf, mergeDecisions, modelOfBindings, modelOfPods, type Decision, type Objects } from './views.ts';

export interface CollectorOptions {
  /** The informer caches, read at each tick. */
  objects: () => Objects;
  /** URLs of the gateways' /metrics now. */
  gatewayUrls: () => string[];
  periodMs: number;
  /** How much history to keep, ms (default 1 h). */
  historyMs?: number;
  timeoutMs?: number;
  /** GET a URL's body (default: node:http); rejects on an error status or timeout. */
  getText?: (url: string, timeoutMs: number) => Promise<string>;
}

/** The body of a GET over plain HTTP; rejects on a status other than 200, an error or the timeout. */
export function getText(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = get(url, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        reject(new Error(`HTTP ${response.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      response.on('error', reject);
    });
    request.setTimeout(timeoutMs, () => request.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    request.on('error', reject);
  });
}

interface PodLike extends KubeObject {
  spec?: { containers?: { ports?: { containerPort?: number }[] }[] };
  status?: { podIP?: string };
}

const DEFAULT_ENGINE_PORT = 8000;

export class Collector {
  readonly periodMs: number;
  readonly historyMs: number;
  readonly #options: CollectorOptions;
  readonly #tables = new Map<string, SeriesTable>();
  readonly #decisions = new Map<string, Decision[]>();
  readonly #previous = new Map<string, Reading>();
  readonly #listeners = new Set<(at: number) => void>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #lastAt = 0;

  constructor(options: CollectorOptions) {
    this.#options = options;
    this.periodMs = options.periodMs;
    this.historyMs = options.historyMs ?? 3_600_000;
  }

  start(): void {
    if (this.#timer) return;
    const tick = () => {
      this.#running = this.tick().finally(() => (this.#running = undefined));
    };
    tick();
    this.#timer = setInterval(() => this.#running || tick(), this.periodMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Called after every tick with its time. */
  onTick(listener: (at: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get lastAt(): number {
    return this.#lastAt;
  }

  table(model: string): SeriesTable | undefined {
    return this.#tables.get(model);
  }

  decisions(model: string): Decision[] {
    return this.#decisions.get(model) ?? [];
  }

  /** One scrape of everything and one row per model. */
  async tick(now = Date.now()): Promise<void> {
    const objects = this.#options.objects();
    const gatewayUrls = this.#options.gatewayUrls();
    const podOwner = modelOfPods(objects);
    const enginePods = (objects.pods as PodLike[]).filter((p) => podOwner.has(`${p.metadata.namespace ?? 'default'}/${p.metadata.name}`) && !isDeleting(p) && isPodReady(p) && !!p.status?.podIP && !!p.metadata.labels?.[MODELINFER_NAME_LABEL]);
    const [gateways, pods] = await Promise.all([
      Promise.all(gatewayUrls.map((url) => this.#read(`gateway ${url}`, url, GATEWAY_SPEC, now))),
      Promise.all(
        enginePods.map(async (p) => {
          const port = p.spec?.containers?.[0]?.ports?.[0]?.containerPort ?? DEFAULT_ENGINE_PORT;
          const host = p.status!.podIP!.includes(':') ? `[${p.status!.podIP}]` : p.status!.podIP;
          const id = `pod ${p.metadata.namespace ?? 'default'}/${p.metadata.name}`;
          return [p, await this.#read(id, `http://${host}:${port}/metrics`, ENGINE_SPEC, now)] as const;
        }),
      ),
    ]);
    // Forget the processes that are gone.
    const live = new Set([...gatewayUrls.map((u) => `gateway ${u}`), ...enginePods.map((p) => `pod ${p.metadata.namespace ?? 'default'}/${p.metadata.name}`)]);
    for (const id of this.#previous.keys()) if (!live.has(id)) this.#previous.delete(id);

    const answered = gateways.filter((w): w is ReadingWindow => w !== undefined);
    const gateway = answered.length > 0 ? addWindows(answered) : undefined;
    const bindingModel = modelOfBindings(objects);
    const models = new Set<string>();
    const capacity = Math.max(1, Math.ceil(this.historyMs / this.periodMs));
    for (const m of objects.models) {
      const model = `${m.metadata.namespace ?? 'default'}/${m.metadata.name}`;
      models.add(model);
      const podWindows = new Map<string, ReadingWindow | undefined>();
      for (const [p, w] of pods) if (podOwner.get(`${p.metadata.namespace ?? 'default'}/${p.metadata.name}`) === model) podWindows.set(p.metadata.name!, w);
      const binding: AutoscalingPolicyBinding | undefined = bindingOf(objects, model);
      const row = modelRow({ namespace: m.metadata.namespace ?? 'default', name: m.metadata.name!, gateway, pods: podWindows, binding });
      let table = this.#tables.get(model);
      if (!table) this.#tables.set(model, (table = new SeriesTable(capacity)));
      table.push(now, row);
    }
    for (const model of this.#tables.keys()) if (!models.has(model)) this.#tables.delete(model);
    for (const b of objects.bindings) {
      const model = bindingModel.get(`${b.metadata.namespace ?? 'default'}/${b.metadata.name}`);
      if (model) this.#decisions.set(model, mergeDecisions(this.#decisions.get(model) ?? [], b.status?.history, now - this.historyMs));
    }
    for (const model of this.#decisions.keys()) if (!models.has(model)) this.#decisions.delete(model);
    this.#lastAt = now;
    for (const listener of this.#listeners) listener(now);
  }

  /** One process's window since its previous reading (gauges alone on its first), or undefined when it did not answer. */
  async #read(id: string, url: string, spec: ReadSpec, now: number): Promise<ReadingWindow | undefined> {
    try {
      const text = await (this.#options.getText ?? getText)(url, this.#options.timeoutMs ?? Math.min(this.periodMs, 2000));
      const reading = readExposition(text, spec, now);
      const before = this.#previous.get(id);
      this.#previous.set(id, reading);
      return windowOf(reading, before) ?? { seconds: 0, rates: new Map(), increases: new Map(), gauges: reading.gauges, histograms: new Map() };
    } catch {
      return undefined;
    }
  }
}
