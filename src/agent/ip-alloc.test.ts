import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { indexOfIp, IpAllocator, ipForIndex, POD_IP_COUNT } from './ip-alloc.ts';

describe('IpAllocator', () => {
  it('maps indexes to 127.0.x.y with x 1..254, y 2..254', () => {
    assert.equal(ipForIndex(0), '127.0.1.2');
    assert.equal(ipForIndex(252), '127.0.1.254');
    assert.equal(ipForIndex(253), '127.0.2.2');
    assert.equal(ipForIndex(POD_IP_COUNT - 1), '127.0.254.254');
    for (const i of [0, 1, 252, 253, 1000, POD_IP_COUNT - 1]) assert.equal(indexOfIp(ipForIndex(i)), i);
    for (const ip of ['127.0.0.1', '127.0.0.5', '127.0.1.1', '127.0.1.255', '127.0.255.2', '10.0.0.1']) assert.equal(indexOfIp(ip), undefined);
  });

  it('is deterministic per key and stable while held', () => {
    const a = new IpAllocator();
    const b = new IpAllocator();
    const ip = a.allocate('uid-1');
    assert.equal(b.allocate('uid-1'), ip);
    assert.equal(a.allocate('uid-1'), ip);
    assert.match(ip, /^127\.0\.\d+\.\d+$/);
    assert.notEqual(ip, '127.0.0.1');
  });

  it('prefers the stored address when free and valid', () => {
    const a = new IpAllocator();
    assert.equal(a.allocate('p', '127.0.9.9'), '127.0.9.9');
    assert.notEqual(a.allocate('q', '127.0.9.9'), '127.0.9.9');
    assert.notEqual(a.allocate('r', '127.0.0.1'), '127.0.0.1');
  });

  it('never hands out an address in use, and reuses released ones', () => {
    const a = new IpAllocator();
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const ip = a.allocate(`uid-${i}`);
      assert.ok(!seen.has(ip), `duplicate ${ip}`);
      assert.notEqual(indexOfIp(ip), undefined);
      seen.add(ip);
    }
    const ip = a.get('uid-7')!;
    a.release('uid-7');
    assert.equal(a.get('uid-7'), undefined);
    assert.equal(a.allocate('other', ip), ip);
  });

  it('probes past collisions deterministically', () => {
    const a = new IpAllocator();
    const first = a.allocate('same');
    a.release('same');
    a.allocate('squatter', first);
    const second = a.allocate('same');
    assert.notEqual(second, first);
  });
});
