import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addWindows, key, quantileOf, readExposition, total, windowOf, type ReadSpec } from './readings.ts';

const SPEC: ReadSpec = {
  counters: { requests_total: ['model', 'code'] },
  gauges: { inflight: ['model'] },
  histograms: { ttft_seconds: ['model'] },
};

function exposition(a200: number, a500: number, buckets: [number, number, number], inflight = 1): string {
  return [
    '# HELP requests_total requests',
    '# TYPE requests_total counter',
    `requests_total{model="a",code="200"} ${a200}`,
    `requests_total{model="a",code="500"} ${a500}`,
    `requests_total{model="b",code="200"} 7`,
    `inflight{model="a"} ${inflight}`,
    `ttft_seconds_bucket{model="a",le="0.1"} ${buckets[0]}`,
    `ttft_seconds_bucket{model="a",le="1"} ${buckets[1]}`,
    `ttft_seconds_bucket{model="a",le="+Inf"} ${buckets[2]}`,
    `ttft_seconds_count{model="a"} ${buckets[2]}`,
    'other_total 5',
  ].join('\n');
}

test('a window: counter rates and increases, gauges, and the histogram of the window only', () => {
  const before = readExposition(exposition(10, 1, [5, 8, 8]), SPEC, 10_000);
  const now = readExposition(exposition(30, 3, [5, 18, 18], 4), SPEC, 12_000);
  assert.equal(before.counters.get(key('requests_total', 'a', '200')), 10);
  assert.equal(windowOf(now, undefined), undefined, 'a rate needs two scrapes');
  const w = windowOf(now, before)!;
  assert.equal(w.seconds, 2);
  assert.equal(w.rates.get(key('requests_total', 'a', '200')), 10);
  assert.equal(w.increases.get(key('requests_total', 'a', '500')), 2);
  assert.equal(w.rates.get(key('requests_total', 'b', '200')), 0);
  assert.equal(total(w.rates, 'requests_total', (l) => l[0] === 'a'), 11);
  assert.equal(total(w.rates, 'requests_total', (l) => l[0] === 'c'), undefined);
  assert.equal(total(w.gauges, 'inflight'), 4);
  // The 10 observations of the window all fell in (0.1, 1]: the median interpolates inside that bucket.
  assert.deepEqual(w.histograms.get(key('ttft_seconds', 'a'))!.counts, [0, 10, 10]);
  assert.equal(quantileOf(w.histograms, 'ttft_seconds', 0.5), 0.55);
  assert.equal(quantileOf(w.histograms, 'ttft_seconds', 0.5, (l) => l[0] === 'b'), undefined);
});

test('a counter that went down is a restart: the new count is the window; a new series counts from zero', () => {
  const before = readExposition(exposition(100, 0, [50, 50, 50]), SPEC, 0);
  const now = readExposition(exposition(6, 0, [1, 4, 4]), SPEC, 1000);
  const w = windowOf(now, before)!;
  assert.equal(w.rates.get(key('requests_total', 'a', '200')), 6);
  assert.deepEqual(w.histograms.get(key('ttft_seconds', 'a'))!.counts, [1, 4, 4]);
  const empty = readExposition('', SPEC, 0);
  assert.equal(windowOf(now, empty)!.increases.get(key('requests_total', 'a', '200')), 6);
});

test('windows of several processes add up: rates summed, histograms merged bucket by bucket', () => {
  const w1 = windowOf(readExposition(exposition(10, 0, [10, 10, 10]), SPEC, 2000), readExposition(exposition(0, 0, [0, 0, 0]), SPEC, 1000))!;
  const w2 = windowOf(readExposition(exposition(4, 0, [0, 30, 30]), SPEC, 2000), readExposition(exposition(0, 0, [0, 0, 0]), SPEC, 1000))!;
  const sum = addWindows([w1, w2]);
  assert.equal(sum.rates.get(key('requests_total', 'a', '200')), 14);
  assert.deepEqual(sum.histograms.get(key('ttft_seconds', 'a'))!.counts, [10, 40, 40]);
  // The merged p50 (rank 20 of 40) lies in the (0.1, 1] bucket, which neither average of quantiles would say.
  assert.ok(quantileOf(sum.histograms, 'ttft_seconds', 0.5)! > 0.1);
});
