// Plain samples (`name{labels} value`) of a few named series out of a Prometheus text exposition: for gauges and
// counters read by name, where parse.ts's fixed engine mapping and histogram.ts's buckets do not apply (the
// gateway's per-endpoint series, DCGM's GPU gauges). Written here rather than taken from a library: the exposition's
// sample lines are one regular shape, and the npm parsers of it are unmaintained; comments, HELP/TYPE and names not
// asked for are skipped without splitting their labels.
import { labelValue } from './parse.ts';

export interface Sample {
  /** The `{…}` block as written (empty for a series without labels); read with `label`. */
  labels: string;
  value: number;
}

/** The samples of each asked-for name, in exposition order; names with no sample are absent. */
export function readSamples(text: string, names: readonly string[]): Map<string, Sample[]> {
  const wanted = new Set(names);
  const found = new Map<string, Sample[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.charCodeAt(0) === 35 /* # */) continue;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    const nameEnd = brace >= 0 && (space < 0 || brace < space) ? brace : space;
    if (nameEnd <= 0) continue;
    const name = line.slice(0, nameEnd);
    if (!wanted.has(name)) continue;
    const close = brace === nameEnd ? line.lastIndexOf('}') : -1;
    const labels = close > nameEnd ? line.slice(nameEnd, close + 1) : '';
    const value = Number(line.slice(close > nameEnd ? close + 1 : nameEnd).trim().split(' ')[0]);
    if (!Number.isFinite(value)) continue;
    let list = found.get(name);
    if (!list) found.set(name, (list = []));
    list.push({ labels, value });
  }
  return found;
}

/** A label's value in a sample's `{…}` block. */
export function label(sample: Sample, name: string): string | undefined {
  return sample.labels === '' ? undefined : labelValue(sample.labels, name);
}
