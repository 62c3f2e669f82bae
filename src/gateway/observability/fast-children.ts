// Allocation-free, hash-free label children for prom-client metrics on the request path.
//
// prom-client's bound children (`metric.labels(...)`) still hash their label object on every `inc`/`observe`
// (string building, sorting) — a few % of the gateway's CPU per request. These wrappers let the first update of a
// series go through prom-client (so series appear exactly when they would have), remember the series' key in the
// metric's `hashMap`, and afterwards update that entry in place. When the entry is gone (`reset()`), or the
// internals do not look like prom-client 15's, they fall back to the ordinary child, so the exposition is the same.
import type { Counter, Gauge, Histogram } from 'prom-client';

interface ValueEntry {
  value: number;
  labels: Record<string, string>;
}

interface HistogramEntry {
  labels: Record<string, string>;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

type Internals<E> = { hashMap?: Record<string, E>; upperBounds?: number[] };

function sameLabels(a: Record<string, unknown> | undefined, b: Record<string, string>): boolean {
  if (a === undefined || a === null) return false;
  const keys = Object.keys(b);
  if (Object.keys(a).length !== keys.length) return false;
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}

/** The key of the series with `labels` in `hashMap`, or undefined. */
function findKey<E extends { labels: Record<string, string> }>(hashMap: Record<string, E> | undefined, labels: Record<string, string>): string | undefined {
  if (hashMap === undefined || hashMap === null || typeof hashMap !== 'object') return undefined;
  for (const k in hashMap) if (sameLabels(hashMap[k]?.labels, labels)) return k;
  return undefined;
}

function labelObject(names: readonly string[], values: readonly string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) o[names[i]!] = values[i]!;
  return o;
}

export interface FastInc {
  inc(value?: number): void;
}

export interface FastGauge {
  inc(value?: number): void;
  dec(value?: number): void;
}

export interface FastObserve {
  observe(value: number): void;
}

class CounterChild implements FastInc {
  readonly #metric: Internals<ValueEntry>;
  readonly #slow: { inc(value?: number): void };
  readonly #labels: Record<string, string>;
  #key: string | undefined = undefined;

  constructor(metric: Counter<string>, names: readonly string[], values: readonly string[]) {
    this.#metric = metric as unknown as Internals<ValueEntry>;
    this.#slow = metric.labels(...values);
    this.#labels = labelObject(names, values);
  }

  inc(value?: number): void {
    const key = this.#key;
    if (key !== undefined && (value === undefined || (Number.isFinite(value) && value >= 0))) {
      const e = this.#metric.hashMap?.[key];
      if (e !== undefined) {
        e.value += value === undefined ? 1 : value;
        return;
      }
    }
    this.#slow.inc(value);
    if (key === undefined) this.#key = findKey(this.#metric.hashMap, this.#labels);
  }
}

class GaugeChild implements FastGauge {
  readonly #metric: Internals<ValueEntry>;
  readonly #slow: { inc(value?: number): void; dec(value?: number): void };
  readonly #labels: Record<string, string>;
  #key: string | undefined = undefined;

  constructor(metric: Gauge<string>, names: readonly string[], values: readonly string[]) {
    this.#metric = metric as unknown as Internals<ValueEntry>;
    this.#slow = metric.labels(...values);
    this.#labels = labelObject(names, values);
  }

  #add(delta: number): boolean {
    const key = this.#key;
    if (key === undefined) return false;
    const e = this.#metric.hashMap?.[key];
    if (e === undefined) return false;
    e.value += delta;
    return true;
  }

  inc(value = 1): void {
    if (typeof value === 'number' && this.#add(value)) return;
    this.#slow.inc(value);
    if (this.#key === undefined) this.#key = findKey(this.#metric.hashMap, this.#labels);
  }

  dec(value = 1): void {
    if (typeof value === 'number' && this.#add(-value)) return;
    this.#slow.dec(value);
    if (this.#key === undefined) this.#key = findKey(this.#metric.hashMap, this.#labels);
  }
}

class HistogramChild implements FastObserve {
  readonly #metric: Internals<HistogramEntry>;
  readonly #slow: { observe(value: number): void };
  readonly #labels: Record<string, string>;
  readonly #bounds: number[] | undefined;
  /** The bounds as the property names of `bucketValues` (a number key would be converted on every access). */
  readonly #boundKeys: string[];
  #key: string | undefined = undefined;

  constructor(metric: Histogram<string>, names: readonly string[], values: readonly string[]) {
    this.#metric = metric as unknown as Internals<HistogramEntry>;
    this.#slow = metric.labels(...values);
    this.#labels = labelObject(names, values);
    const b = this.#metric.upperBounds;
    this.#bounds = Array.isArray(b) ? b : undefined;
    this.#boundKeys = (this.#bounds ?? []).map(String);
  }

  observe(value: number): void {
    const key = this.#key;
    const bounds = this.#bounds;
    if (key !== undefined && bounds !== undefined && Number.isFinite(value)) {
      const e = this.#metric.hashMap?.[key];
      if (e !== undefined) {
        e.sum += value;
        e.count += 1;
        for (let i = 0; i < bounds.length; i++) {
          if (value <= bounds[i]!) {
            const bv = e.bucketValues;
            const k = this.#boundKeys[i]!;
            if (bv[k] !== undefined) bv[k] += 1;
            break;
          }
        }
        return;
      }
    }
    this.#slow.observe(value);
    if (key === undefined) this.#key = findKey(this.#metric.hashMap, this.#labels);
  }
}

export function counterChild(metric: Counter<string>, ...values: string[]): FastInc {
  return new CounterChild(metric, (metric as unknown as { labelNames: string[] }).labelNames, values);
}

export function gaugeChild(metric: Gauge<string>, ...values: string[]): FastGauge {
  return new GaugeChild(metric, (metric as unknown as { labelNames: string[] }).labelNames, values);
}

export function histogramChild(metric: Histogram<string>, ...values: string[]): FastObserve {
  return new HistogramChild(metric, (metric as unknown as { labelNames: string[] }).labelNames, values);
}
