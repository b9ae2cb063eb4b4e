// The bounce MX's own certificate (made when the operator configured none) must be one that
// OpenSSL loads every time: a start-up that fails one time in 256 is a broken start-up.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { createSecureContext } from 'node:tls';
import { makeSelfSignedCertificate } from '../../src/inbound/self-signed-cert.ts';

const HOST = 'mx1.securemail.test';

function load(serial?: Buffer): X509Certificate {
  const { certPem, keyPem } = makeSelfSignedCertificate(HOST, Date.now(), serial);
  createSecureContext({ cert: certPem, key: keyPem }); // throws on a bad encoding or key
  const cert = new X509Certificate(certPem);
  assert.equal(cert.checkHost(HOST), HOST);
  assert.ok(cert.verify(cert.publicKey), 'self-signed');
  return cert;
}

describe('self-signed bounce MX certificate', () => {
  const cases: [string, number[], string][] = [
    ['a leading zero octet', [0x00, 0x12, 0x34], '1234'],
    ['several leading zero octets', [0x00, 0x00, 0x00, 0x7f], '7F'],
    ['a leading zero before a high bit', [0x00, 0x80, 0x01], '8001'],
    ['a high bit set', [0x9a, 0xbc], '9ABC'],
    ['zero', [0x00, 0x00], '00'],
  ];
  for (const [what, octets, serialHex] of cases) {
    it(`encodes a serial with ${what} as a positive minimal INTEGER`, () => {
      const cert = load(Buffer.from(octets));
      assert.equal(
        cert.serialNumber.replace(/^0+(?=.)/, '').toUpperCase(),
        serialHex.replace(/^0+(?=.)/, ''),
      );
    });
  }

  it('loads every time with random serials', () => {
    for (let i = 0; i < 300; i++) load();
  });
});
