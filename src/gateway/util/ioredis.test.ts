// A gateway that names no Redis must not evaluate ioredis (util/ioredis.ts says why): checked in a fresh process,
// where importing the whole gateway leaves ioredis out of the module cache until a client class is asked for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const gateway = fileURLToPath(new URL('../gateway.ts', import.meta.url));
const lazy = fileURLToPath(new URL('./ioredis.ts', import.meta.url));

test('importing the gateway does not load ioredis; asking for the client class does', () => {
  const script = `
    import { createRequire } from 'node:module';
    const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/ioredis/'));
    await import(${JSON.stringify(gateway)});
    const before = loaded();
    const { redisClass } = await import(${JSON.stringify(lazy)});
    redisClass();
    console.log(JSON.stringify({ before, after: loaded() }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), { before: false, after: true });
});
