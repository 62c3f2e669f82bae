// What the dashboard reads out of one Prometheus text exposition, and the window between two scrapes of the same
// process. A reading is flat: counters, gauges and histograms keyed by `name` plus the label values the dashboard
// groups by (`key`), with series that differ in other labels added up. Pure functions; the scraper (collector.ts)
// keeps each process's previous reading.
// Rules:
//  - A window needs two scrapes of one process: a counter that went down is a restarted process, whose new count
//    is the window's (as PromQL's rate); a histogram likewise (histogram.ts `delta`).
//  - Windows of several processes (the gateways, the pods of a model) add up: their rates are summed and their
//    histograms merged bucket by bucket, so a quantile is over every observation, not an average of quantiles.
import { delta, quantile, type Histogram } from '../api/engine-metrics/histogram.ts';
import { labelValue } from '../api/engine-metrics/parse.ts';
import { readSamples } from '../api/engine-metrics/samples.ts';

/** What to read: each series name with the labels it is grouped by, and its type. */
export interface ReadSpec {
  counters?: Record<string, readonly string[]>;
  gauges?: Record<string, readonly string[]>;
  /** Histogram names without `_bucket`. */
  histograms?: Record<string, readonly string[]>;
}

export interface Reading {
  /** ms since the epoch. */
  at: number;
  counters: Map<string, number>;
  gauges: Map<string, number>;
  histograms: Map<string, Histogram>;
}

/** The rates and histograms of the time between two readings (or several, added up). */
export interface ReadingWindow {
  seconds: number;
  /** Per second. */
  rates: Map<string, number>;
  /** Counts in the window (not per second). */
  increases: Map<string, number>;
  gauges: Map<string, number>;
  histograms: Map<string, Histogram>;
}

const SEP = '\u0000';

/** `name` with its grouping label values: the key of a series in a Reading. */
export function key(name: string, ...values: string[]): string {
  return [name, ...values].join(SEP);
}

/** A key's name and label values. */
export function splitKey(k: string): [string, ...string[]] {
  return k.split(SEP) as [string, ...string[]];
}

function grouped(labels: string, by: readonly string[]): string[] {
  return by.map((l) => (labels === '' ? '' : (labelValue(labels, l) ?? '')));
}

export function readExposition(text: string, spec: ReadSpec, at: number): Reading {
  const counters = new Map<string, number>();
  const gauges = new Map<string, number>();
  const histograms = new Map<string, Histogram>();
  const bucketNames = Object.keys(spec.histograms ?? {}).map((n) => `${n}_bucket`);
  const samples = readSamples(text, [...Object.keys(spec.counters ?? {}), ...Object.keys(spec.gauges ?? {}), ...bucketNames]);
  const add = (into: Map<string, number>, specs: Record<string, readonly string[]> | undefined) => {
    for (const [name, by] of Object.entries(specs ?? {})) {
      for (const s of samples.get(name) ?? []) {
        const k = key(name, ...grouped(s.labels, by));
        into.set(k, (into.get(k) ?? 0) + s.value);
      }
    }
  };
  add(counters, spec.counters);
  add(gauges, spec.gauges);
  for (const [name, by] of Object.entries(spec.histograms ?? {})) {
    const byKey = new Map<string, Map<number, number>>();
    for (const s of samples.get(`${name}_bucket`) ?? []) {
      const le = labelValue(s.labels, 'le');
      const bound = le === '+Inf' ? Infinity : Number(le);
      if (le === undefined || Number.isNaN(bound)) continue;
      const k = key(name, ...grouped(s.labels, by));
      let buckets = byKey.get(k);
      if (!buckets) byKey.set(k, (buckets = new Map()));
      buckets.set(bound, (buckets.get(bound) ?? 0) + s.value);
    }
    for (const [k, buckets] of byKey) {
      const bounds = [...buckets.keys()].sort((a, b) => a - b);
      histograms.set(k, { bounds, counts: bounds.map((b) => buckets.get(b)!) });
    }
  }
  return { at, counters, gauges, histograms };
}

/** The window from `before` to `now` (one process); undefined without a `before` or with no time between. */
export function windowOf(now: Reading, before: Reading | undefined): ReadingWindow | undefined {
  if (!before || now.at <= before.at) return undefined;
  const seconds = (now.at - before.at) / 1000;
  const rates = new Map<string, number>();
  const increases = new Map<string, number>();
  for (const [k, value] of now.counters) {
    const previous = before.counters.get(k);
    // A series new since the last scrape counted from zero; one that went down, from its restart.
    const increase = previous === undefined || value < previous ? value : value - previous;
    increases.set(k, increase);
    rates.set(k, increase / seconds);
  }
  const histograms = new Map<string, Histogram>();
  for (const [k, h] of now.histograms) histograms.set(k, delta(h, before.histograms.get(k) ?? { bounds: h.bounds, counts: h.bounds.map(() => 0) }));
  return { seconds, rates, increases, gauges: new Map(now.gauges), histograms };
}

/** Windows of several processes added up (rates, increases, gauges summed; histograms merged where bounds match). */
export function addWindows(windows: readonly ReadingWindow[]): ReadingWindow {
  const out: ReadingWindow = { seconds: Math.max(0, ...windows.map((w) => w.seconds)), rates: new Map(), increases: new Map(), gauges: new Map(), histograms: new Map() };
  for (const w of windows) {
    for (const [field, into] of [[w.rates, out.rates], [w.increases, out.increases], [w.gauges, out.gauges]] as const) {
      for (const [k, v] of field) into.set(k, (into.get(k) ?? 0) + v);
    }
    for (const [k, h] of w.histograms) {
      const o = out.histograms.get(k);
      if (!o) out.histograms.set(k, { bounds: h.bounds, counts: [...h.counts] });
      else if (o.bounds.length === h.bounds.length && o.bounds.every((b, i) => b === h.bounds[i])) h.counts.forEach((c, i) => (o.counts[i]! += c));
    }
  }
  return out;
}

/** Σ of the map's values whose key's name is `name` and whose label values pass `match` (all when omitted). */
export function total(values: Map<string, number>, name: string, match: (labels: string[]) => boolean = () => true): number | undefined {
  let sum: number | undefined;
  for (const [k, v] of values) {
    const [n, ...labels] = splitKey(k);
    if (n === name && match(labels)) sum = (sum ?? 0) + v;
  }
  return sum;
}

/** The q-quantile of the named histograms (merged) whose labels pass `match`; undefined with no observation. */
export function quantileOf(histograms: Map<string, Histogram>, name: string, q: number, match: (labels: string[]) => boolean = () => true): number | undefined {
  let merged: Histogram | undefined;
  for (const [k, h] of histograms) {
    const [n, ...labels] = splitKey(k);
    if (n !== name || !match(labels)) continue;
    if (!merged) merged = { bounds: h.bounds, counts: [...h.counts] };
    else if (merged.bounds.length === h.bounds.length && merged.bounds.every((b, i) => b === h.bounds[i])) h.counts.forEach((c, i) => (merged!.counts[i]! += c));
  }
  return merged ? quantile(merged, q) : undefined;
}
