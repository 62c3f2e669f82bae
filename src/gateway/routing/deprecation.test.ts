import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileDeprecation, successorLink } from './deprecation.ts';
import { buildRoutingTable } from './table.ts';
import { modelRoute, modelServer, pod, toServers } from '../testing/fixtures.ts';

test('Deprecation is @<unix seconds of since> (RFC 9745); Link names the successor with rel="successor-version"', () => {
  const problems: string[] = [];
  const d = compileDeprecation({ since: '2026-06-30T23:59:59Z', successor: 'llama-v2', message: 'moving on' }, 'ml/llama-v1', problems)!;
  assert.equal(d.since, 1782863999);
  assert.equal(d.lines, 'deprecation: @1782863999\r\nlink: </v1/models/llama-v2>; rel="successor-version"\r\n');
  assert.deepEqual(d.headers, { deprecation: '@1782863999', link: '</v1/models/llama-v2>; rel="successor-version"' });
  assert.equal(d.message, 'moving on');
  // Fractional seconds and offsets are the same instant in whole seconds.
  assert.equal(compileDeprecation({ since: '2026-07-01T01:59:59.900+02:00' }, 'k', problems)!.lines, 'deprecation: @1782863999\r\n');
  assert.deepEqual(problems, []);
});

test('no deprecation is null; an unparseable since is a problem and no header', () => {
  const problems: string[] = [];
  assert.equal(compileDeprecation(undefined, 'ml/x', problems), null);
  assert.equal(compileDeprecation({ since: 'last tuesday' }, 'ml/x', problems), null);
  assert.deepEqual(problems, ['ModelRoute ml/x: deprecation.since "last tuesday" is not a date-time; no Deprecation header']);
});

test('successor names become a safe URI: slashes kept, header-breaking characters escaped', () => {
  assert.equal(successorLink('meta/llama 3'), '</v1/models/meta/llama%203>; rel="successor-version"');
  assert.equal(successorLink('a>b;c,"d\r\nx: y'), '</v1/models/a%3Eb%3Bc%2C%22d%0D%0Ax:%20y>; rel="successor-version"');
});

test('the table puts the headers on the route and /v1/models marks the deprecated name', () => {
  const old = modelRoute('llama-v1', 'llama-v1', [toServers('llama-v1')]);
  old.spec.deprecation = { since: '2026-01-01T00:00:00Z', successor: 'llama-v2', message: 'use v2' };
  const table = buildRoutingTable({
    servers: [modelServer('llama-v1', { inferName: 'llama-v1' }), modelServer('llama-v2', { inferName: 'llama-v2' })],
    routes: [old, modelRoute('llama-v2', 'llama-v2', [toServers('llama-v2')])],
    pods: [pod('v1-0', 'llama-v1', { ip: '10.0.0.1' }), pod('v2-0', 'llama-v2', { ip: '10.0.0.2' })],
  });
  assert.equal(table.models.get('llama-v1')!.routes[0]!.deprecation!.headers.deprecation, '@1767225600');
  assert.equal(table.models.get('llama-v2')!.routes[0]!.deprecation, null);
  // A server's seed paths answer with its own model's route's headers.
  assert.equal(table.servers.get('default/llama-v1')!.deprecation, table.models.get('llama-v1')!.routes[0]!.deprecation);
  assert.equal(table.servers.get('default/llama-v2')!.deprecation, null);
  const list = JSON.parse(table.modelList.toString()) as { data: Record<string, unknown>[] };
  assert.deepEqual(list.data, [
    { id: 'llama-v1', object: 'model', created: 1735689600, owned_by: 'matrixinfer', deprecated: true, successor: 'llama-v2', deprecation_message: 'use v2' },
    { id: 'llama-v2', object: 'model', created: 1735689600, owned_by: 'matrixinfer' },
  ]);
});
