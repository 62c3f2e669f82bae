// The dashboard in a real headless browser (Debian's chromium driven by playwright-core, which downloads no
// browser): the in-process platform with simulated engines, the autoscaler syncing every 500 ms and the dashboard
// scraping every second. A Model that autoscales on num_requests appears with its phase; under a bounded load through
// the gateway the live figures move and the charts draw; the autoscaler scales out and its timeline lists the
// decision. The page loads nothing from outside the dashboard (it works offline) and throws no error. Screenshots:
// the models list (test-results/dashboard-models.png) and the model's page under load (test-results/dashboard.png).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import type { ServedModel as Model } from '../../src/api/kinds/index.ts';
import { MODELS } from '../../src/controllers/resources.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startInProcessPlatform, type InProcessPlatform } from '../support/inprocess.ts';
import { testModel } from '../support/models.ts';
import { findProgram, needs } from '../support/system.ts';

const skip = needs('chromium');
const NAME = 'dash';
const SCREENSHOT = fileURLToPath(new URL('../../test-results/dashboard.png', import.meta.url));
// Two sequences per engine, 40 ms per token: 6 clients keep about 6 requests in flight against a target of 2.
const model: Model = testModel(NAME, 'default', {
  runtime: { args: ['--max-num-seqs', '2', '--time-to-first-token-ms', '20', '--inter-token-latency-ms', '40', '--inter-token-latency-per-seq-ms', '0'] },
  spec: {
    autoscaling: {
      minReplicas: 1,
      maxReplicas: 3,
      metrics: [{ metricName: 'num_requests', targetValue: 2 }],
      behavior: { scaleUp: { stablePolicy: { instances: 2, period: '1s' } }, scaleDown: { percent: 100, period: '1s', stabilizationWindow: '60s' } },
    },
  } as Partial<Model['spec']>,
});

let platform: InProcessPlatform | undefined;
let browser: Browser | undefined;

before(async () => {
  if (skip) return;
  platform = await startInProcessPlatform({ autoscaler: { syncPeriodMs: 500 }, dashboard: { periodMs: 1000 } });
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: findProgram('chromium')!, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await platform?.stop();
});

test('the dashboard in chromium: the model and its phase, live figures under load, a decision on the autoscaler timeline', { skip }, async (t) => {
  const { client, gateway } = platform!;
  const url = platform!.manager.dashboard!.url;
  const page = await browser!.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  const elsewhere: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
  page.on('request', (req) => req.url().startsWith(url) || elsewhere.push(req.url()));

  await client.create(MODELS, model);
  await page.goto(url);
  const row = page.getByTestId(`model-row-default-${NAME}`);
  await row.waitFor({ timeout: 20_000 });
  await until('the row shows Ready', async () => (await row.getByTestId('phase').textContent()) === 'Ready', 60_000, 200);
  assert.match((await row.getByTestId('replicas').textContent()) ?? '', /^1 \/ 1$/);
  mkdirSync(new URL('../../test-results/', import.meta.url), { recursive: true });
  await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-models.png') });

  await row.click();
  await page.getByTestId('figure-rps').waitFor();
  assert.equal(await page.getByTestId('figure-rps').textContent(), '0.00', 'no traffic yet');

  // Bounded load: 6 clients, at most 300 requests, until the figures move and the autoscaler has scaled out.
  let sent = 0;
  let ok = 0;
  let done = false;
  const complete = async (i: number) => {
    const res = await fetch(`${gateway.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: NAME, prompt: `request ${i}`, max_tokens: 16, ignore_eos: true, stream: true }),
    }).catch(() => undefined);
    if (res && res.status === 200 && (await res.text()).includes('[DONE]')) ok++;
  };
  const clients = Array.from({ length: 6 }, async () => {
    while (!done && sent < 300) await complete(sent++);
  });
  try {
    const rps = await until('the request rate above 0 on the page', async () => {
      const value = Number(await page.getByTestId('figure-rps').textContent());
      return value > 0 && value;
    }, 20_000, 200);
    t.diagnostic(`requests/s on the page: ${rps}`);
    await until('a scaling decision on the timeline', async () => (await page.getByTestId('decision-marker').count()) >= 1, 30_000, 250);
    // The scale-out's pods ready in the pods table, and a few more periods of load so the screenshot shows it.
    await until('two ready pods in the pods table', async () => (await page.getByTestId('pod-row').filter({ hasText: 'Ready' }).count()) >= 2, 30_000, 250);
    await page.waitForTimeout(3000);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  } finally {
    done = true;
    await Promise.all(clients);
  }
  t.diagnostic(`load: ${ok} of ${sent} requests ok; screenshot ${SCREENSHOT}`);

  const decision = (await page.getByTestId('decision-marker').first().textContent()) ?? '';
  assert.match(decision, /1 → [23]/, decision);
  for (const chart of ['autoscaler', 'traffic', 'ttft', 'tokens', 'kv']) {
    const box = await page.getByTestId(`chart-${chart}`).locator('canvas').first().boundingBox();
    assert.ok(box && box.width > 0 && box.height > 0, `chart ${chart} drew a canvas: ${JSON.stringify(box)}`);
  }
  assert.notEqual(await page.getByTestId('figure-ttft-p99').textContent(), '–', 'TTFT measured');
  assert.deepEqual(elsewhere, [], 'nothing loaded from outside the dashboard');
  assert.deepEqual(errors, [], 'no error in the page');
  await page.close();
});
