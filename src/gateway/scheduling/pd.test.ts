import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Endpoint, EndpointRegistry } from './endpoint.ts';
import { decodeBody, prefillBody } from './pd.ts';
import { buildServerScheduling } from './profiles.ts';

test('prefill body: one token, not streamed, do_remote_decode; decode body carries the returned params', () => {
  const body = { model: 'm', prompt: 'p', stream: true, stream_options: { include_usage: true }, max_tokens: 50, max_completion_tokens: 50 };
  const pre = prefillBody(body);
  assert.deepEqual(pre, {
    model: 'm',
    prompt: 'p',
    stream: false,
    max_tokens: 1,
    max_completion_tokens: 1,
    kv_transfer_params: { do_remote_decode: true, do_remote_prefill: false, remote_engine_id: null, remote_block_ids: null, remote_host: null, remote_port: null },
  });
  assert.equal(body.max_tokens, 50, 'the original is untouched');
  const prefill = new Endpoint('default', 'pf', '10.1.0.7', 8000);
  const returned = { do_remote_prefill: true, do_remote_decode: false, remote_block_ids: [1, 2], remote_engine_id: 'e1', remote_host: null, remote_port: 8000 };
  const dec = decodeBody(body, returned, prefill);
  assert.equal(dec.stream, true);
  assert.equal(dec.max_tokens, 50);
  assert.deepEqual(dec.kv_transfer_params, { ...returned, remote_host: '10.1.0.7' });
  assert.equal((decodeBody(body, { ...returned, remote_host: 'h' }, prefill).kv_transfer_params as { remote_host: string }).remote_host, 'h');
  assert.equal('kv_transfer_params' in decodeBody(body, undefined, prefill), false);
});

test('P/D servers schedule decode pods that have a prefill pod in their group', () => {
  const reg = new EndpointRegistry();
  const mk = (name: string, role: string, group: string): Endpoint => {
    const ep = reg.obtain('default', name, `10.0.0.${reg.size + 1}`, 8000);
    ep.role = role;
    ep.group = group;
    return ep;
  };
  const eps = [mk('p0', 'prefill', '0'), mk('d0', 'decode', '0'), mk('p1a', 'prefill', '1'), mk('p1b', 'prefill', '1'), mk('d1', 'decode', '1'), mk('d2', 'decode', '2')];
  const problems: string[] = [];
  const { endpoints, scheduling } = buildServerScheduling({ pdDisaggregation: {} }, eps, problems, 'default/s');
  assert.deepEqual(endpoints.map((e) => e.podName), ['d0', 'd1']);
  assert.deepEqual([...scheduling.pd!.prefillByGroup].map(([g, l]) => [g, l.map((e) => e.podName)]), [
    ['0', ['p0']],
    ['1', ['p1a', 'p1b']],
  ]);
  assert.equal(problems.length, 1);
  const plain = buildServerScheduling({}, eps, [], 'default/s');
  assert.equal(plain.endpoints.length, 6);
  assert.equal(plain.scheduling.pd, null);
});
