import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { generateCA, issueServingCertificate, serial } from './certs.ts';

test('serial numbers are positive, minimal DER integers: no leading zero byte OpenSSL would refuse', () => {
  for (let i = 0; i < 20_000; i++) {
    const first = parseInt(serial().slice(0, 2), 16);
    assert.ok(first >= 0x40 && first <= 0x7f, `first byte ${first.toString(16)}`);
  }
});

test('issued certificates parse with OpenSSL (X509Certificate), as TLS peers will', () => {
  const ca = generateCA('test CA');
  for (let i = 0; i < 8; i++) {
    const issued = issueServingCertificate(ca, ['a.test'], ['127.0.0.1']);
    assert.match(new X509Certificate(issued.cert).serialNumber, /^[4-7][0-9A-F]{31}$/);
  }
});
