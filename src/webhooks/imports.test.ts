// What the embedded API server loads with its admission plugins: it runs them inline, and the local platform has a
// memory budget (npm run bench -- footprint), so neither the Kubernetes client (≈ 45 MiB resident) nor a store's
// client library may come with them. A fresh process imports the plugin modules with a resolve hook that records
// every package resolved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

const HOOK = `import { registerHooks } from 'node:module';
const seen = new Set();
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(r.url); if (m) seen.add(m[1]); return r; } });
process.on('exit', () => process.stdout.write(JSON.stringify([...seen])));`;

test('the admission plugins and the registry policy load neither the Kubernetes client nor a store library', () => {
  const modules = ['./plugins.ts', './policy.ts'].map((m) => new URL(m, import.meta.url).href);
  const out = execFileSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(HOOK)}`, '--input-type=module', '-e', modules.map((m) => `await import(${JSON.stringify(m)});`).join('')], { encoding: 'utf8' });
  const packages = JSON.parse(out) as string[];
  for (const heavy of ['@kubernetes/client-node', '@aws-sdk/client-s3', '@google-cloud/storage', '@azure/storage-blob', '@huggingface/hub']) {
    assert.ok(!packages.includes(heavy), `${heavy} is loaded with the admission plugins (packages: ${packages.join(', ')})`);
  }
});
