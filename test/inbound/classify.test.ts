import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyMessage } from '../../src/inbound/classify.ts';
import { parseDeliveryStatus } from '../../src/inbound/delivery-status.ts';
import { fixture } from './fixtures.ts';

const values = {
  recipient: 'klant@remote.example',
  verp: 'bounce+0b0c6f8e-9a52-4d4f-8f55-3f1e2f3a4b5c@bounce.example.nl',
};

async function classify(name: string, mailFrom = '') {
  return classifyMessage(fixture(name, values), mailFrom);
}

describe('DSN classification of the fixtures', () => {
  const expected: Record<string, { kind: string; action: string; status: string | null }> = {
    'rfc3464-failed.eml': { kind: 'dsn', action: 'failed', status: '4.0.0' },
    'rfc3464-delayed.eml': { kind: 'dsn', action: 'delayed', status: '4.4.7' },
    'rfc3464-relayed.eml': { kind: 'dsn', action: 'relayed', status: '2.0.0' },
    'postfix-failed.eml': { kind: 'dsn', action: 'failed', status: '5.1.1' },
    'postfix-delayed.eml': { kind: 'dsn', action: 'delayed', status: '4.4.1' },
    'exim-failed.eml': { kind: 'plain_bounce', action: 'failed', status: '5.2.1' },
    'm365-failed.eml': { kind: 'dsn', action: 'failed', status: '5.1.10' },
    'gmail-failed.eml': { kind: 'dsn', action: 'failed', status: '5.1.1' },
  };
  for (const [name, want] of Object.entries(expected)) {
    it(name, async () => {
      const result = await classify(name);
      assert.equal(result.kind, want.kind);
      assert.ok(result.kind === 'dsn' || result.kind === 'plain_bounce');
      const [first, ...rest] = result.report.recipients;
      assert.equal(rest.length, 0);
      assert.equal(first?.action, want.action);
      assert.equal(first?.status, want.status);
      assert.equal(first?.finalRecipient, values.recipient);
      assert.ok(first?.diagnostic !== null || want.action === 'relayed');
    });
  }

  it('keeps folded diagnostics whole', async () => {
    const result = await classify('gmail-failed.eml');
    assert.ok(result.kind === 'dsn');
    assert.match(result.report.recipients[0]?.diagnostic ?? '', /^550-5\.1\.1 The email .* gsmtp$/);
    assert.equal(result.report.reportingMta, 'googlemail.com');
    assert.equal(result.report.originalMessageId, '<original-6@example.nl>');
  });

  it('reads the Exim diagnostic from the text', async () => {
    const result = await classify('exim-failed.eml');
    assert.ok(result.kind === 'plain_bounce');
    assert.match(result.report.recipients[0]?.diagnostic ?? '', /550 5\.2\.1 The email account/);
  });

  it('recognises auto-replies, also from the null sender', async () => {
    assert.equal((await classify('auto-reply.eml')).kind, 'auto_reply');
    assert.equal((await classify('out-of-office.eml', 'jan@remote.example')).kind, 'auto_reply');
  });

  it('keeps what it cannot use as unparseable', async () => {
    assert.equal((await classify('malformed-report.eml')).kind, 'unparseable');
    assert.equal((await classify('human-reply.eml', 'jan@remote.example')).kind, 'unparseable');
    const garbage = await classifyMessage(Buffer.from('\x00\x01\x02 not mail at all'), '');
    assert.equal(garbage.kind, 'unparseable');
  });
});

describe('parseDeliveryStatus', () => {
  it('parses several recipient blocks and skips ones without a valid action', () => {
    const status = parseDeliveryStatus(
      [
        'Reporting-MTA: dns; mx.example',
        '',
        'Final-Recipient: rfc822; a@x.example',
        'Action: failed',
        'Status: 5.1.1 (bad mailbox)',
        '',
        'Final-Recipient: rfc822; <B@X.example>',
        'Action: delayed',
        'Status: 4.2.2',
        '',
        'Final-Recipient: rfc822; c@x.example',
        'Action: exploded',
        '',
      ].join('\r\n'),
    );
    assert.equal(status.reportingMta, 'mx.example');
    assert.deepEqual(
      status.recipients.map((r) => [r.finalRecipient, r.action, r.status]),
      [
        ['a@x.example', 'failed', '5.1.1'],
        ['b@x.example', 'delayed', '4.2.2'],
      ],
    );
  });

  it('drops a status that is not RFC 3463', () => {
    const status = parseDeliveryStatus(
      'Final-Recipient: rfc822; a@x\nAction: failed\nStatus: 550\n',
    );
    assert.equal(status.recipients[0]?.status, null);
  });
});
