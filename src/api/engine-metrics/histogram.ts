// Reading Prometheus histograms (`NAME_bucket{le="…"}` cumulative counts) out of a text exposition, and their
// quantiles over a window. Series of one histogram that differ in other labels (model name, data-parallel engine) are
// added bucket by bucket, so a pod's histogram is one list of cumulative counts. A window's histogram is the
// difference of two scrapes (`delta`): counters only grow, so a negative difference means the process restarted and
// the newer scrape alone is the window. Quantiles interpolate linearly inside the bucket, as PromQL's
// histogram_quantile does, and answer the lower bucket's bound for the +Inf bucket.
import { labelValue } from './parse.ts';

/** Cumulative counts per upper bound, ascending; the last bound is +Inf. */
export interface Histogram {
  bounds: number[];
  counts: number[];
}

/** The named histograms found in `text` (names without `_bucket`); absent names are not in the map. */
export function parseHistograms(text: string, names: readonly string[]): Map<string, Histogram> {
  const wanted = new Map(names.map((n) => [`${n}_bucket`, n]));
  const byName = new Map<string, Map<number, number>>();
  for (const raw of text.split('\n')) {
    if (raw === '' || raw.charCodeAt(0) === 35 /* # */) continue;
    const brace = raw.indexOf('{');
    if (brace < 0) continue;
    const name = wanted.get(raw.slice(0, brace));
    if (name === undefined) continue;
    const close = raw.lastIndexOf('}');
    const le = labelValue(raw.slice(brace, close + 1), 'le');
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    const value = Number(raw.slice(close + 1).trim().split(' ')[0]);
    if (Number.isNaN(bound) || !Number.isFinite(value)) continue;
    let buckets = byName.get(name);
    if (!buckets) byName.set(name, (buckets = new Map()));
    buckets.set(bound, (buckets.get(bound) ?? 0) + value);
  }
  const out = new Map<string, Histogram>();
  for (const [name, buckets] of byName) {
    const bounds = [...buckets.keys()].sort((a, b) => a - b);
    out.set(name, { bounds, counts: bounds.map((b) => buckets.get(b)!) });
  }
  return out;
}

/** `now - before` bucket by bucket; `now` alone when the bounds differ or a count went down (a restart). */
export function delta(now: Histogram, before: Histogram | undefined): Histogram {
  if (!before || before.bounds.length !== now.bounds.length || before.bounds.some((b, i) => b !== now.bounds[i])) return now;
  const counts = now.counts.map((c, i) => c - before.counts[i]!);
  return counts.some((c) => c < 0) ? now : { bounds: now.bounds, counts };
}

/** Bucket-wise sum of histograms with the same bounds (others are skipped). */
export function sum(histograms: readonly Histogram[]): Histogram | undefined {
  const [first, ...rest] = histograms;
  if (!first) return undefined;
  const counts = [...first.counts];
  for (const h of rest) {
    if (h.bounds.length !== first.bounds.length || h.bounds.some((b, i) => b !== first.bounds[i])) continue;
    h.counts.forEach((c, i) => (counts[i]! += c));
  }
  return { bounds: first.bounds, counts };
}

/** The q-quantile (0 < q < 1), or undefined when the histogram holds no observations. */
export function quantile(h: Histogram, q: number): number | undefined {
  const total = h.counts.at(-1) ?? 0;
  if (!(total > 0)) return undefined;
  const rank = q * total;
  let i = h.counts.findIndex((c) => c >= rank);
  if (i < 0) i = h.counts.length - 1;
  const upper = h.bounds[i]!;
  const lower = i === 0 ? 0 : h.bounds[i - 1]!;
  if (upper === Infinity) return lower;
  const below = i === 0 ? 0 : h.counts[i - 1]!;
  const inBucket = h.counts[i]! - below;
  return inBucket > 0 ? lower + (upper - lower) * ((rank - below) / inBucket) : upper;
}
