// The fast label children give exactly prom-client's exposition (series appear on first update, reset() works).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { counterChild, gaugeChild, histogramChild } from './fast-children.ts';

async function exercise(fast: boolean): Promise<string[]> {
  const r = new Registry();
  const c = new Counter({ name: 'c', help: 'c', labelNames: ['a', 'b'], registers: [r] });
  const g = new Gauge({ name: 'g', help: 'g', labelNames: ['a'], registers: [r] });
  const h = new Histogram({ name: 'h', help: 'h', labelNames: ['a'], buckets: [0.1, 1, 10], registers: [r] });
  const cc = fast ? counterChild(c, 'x', 'y') : c.labels('x', 'y');
  const unused = fast ? counterChild(c, 'x', 'z') : c.labels('x', 'z');
  const gg = fast ? gaugeChild(g, 'm') : g.labels('m');
  const hh = fast ? histogramChild(h, 'm') : h.labels('m');
  const out: string[] = [await r.metrics()];
  for (let i = 0; i < 5; i++) {
    cc.inc();
    cc.inc(2.5);
    cc.inc(0);
    gg.inc();
    gg.dec();
    gg.inc(3);
    hh.observe(i * 0.7);
    hh.observe(100);
    hh.observe(0.1);
  }
  assert.ok(unused);
  out.push(await r.metrics());
  c.reset();
  h.reset();
  g.reset();
  cc.inc(3);
  hh.observe(0.05);
  gg.dec(2);
  out.push(await r.metrics());
  assert.throws(() => cc.inc(-1));
  assert.throws(() => hh.observe(Number.NaN));
  return out;
}

test('fast children expose the same series as prom-client children', async () => {
  assert.deepEqual(await exercise(true), await exercise(false));
});
