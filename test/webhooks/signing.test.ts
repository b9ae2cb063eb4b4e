import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  newWebhookSecret,
  signatureHeader,
  verifySignature,
} from '../../src/notify/webhook-signing.ts';

describe('webhook signatures', () => {
  const body = '{"id":"1","type":"bounced"}';

  it('is HMAC-SHA256 over "<timestamp>.<body>" with the secret', () => {
    const secret = newWebhookSecret();
    const header = signatureHeader([secret], 1_780_000_000, body);
    const expected = createHmac('sha256', secret).update(`1780000000.${body}`).digest('hex');
    assert.equal(header, `t=1780000000,v1=${expected}`);
    assert.ok(verifySignature(header, body, secret, 1_780_000_010));
  });

  it('refuses a wrong secret, a changed body and an old timestamp', () => {
    const secret = newWebhookSecret();
    const header = signatureHeader([secret], 1_780_000_000, body);
    assert.ok(!verifySignature(header, body, newWebhookSecret(), 1_780_000_000));
    assert.ok(
      !verifySignature(header, body.replace('bounced', 'delivered'), secret, 1_780_000_000),
    );
    assert.ok(!verifySignature(header, body, secret, 1_780_000_000 + 301));
    assert.ok(!verifySignature('v1=00', body, secret, 1_780_000_000));
  });

  it('carries one signature per secret during a rotation', () => {
    const [a, b] = [newWebhookSecret(), newWebhookSecret()];
    const header = signatureHeader([a, b], 1_780_000_000, body);
    assert.equal(header.split(',').length, 3);
    assert.ok(verifySignature(header, body, a, 1_780_000_000));
    assert.ok(verifySignature(header, body, b, 1_780_000_000));
  });

  it('makes distinct secrets', () => {
    assert.notEqual(newWebhookSecret(), newWebhookSecret());
    assert.match(newWebhookSecret(), /^whsec_[A-Za-z0-9_-]{43}$/);
  });
});
