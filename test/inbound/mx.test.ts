import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { type RunningMx, startInboundMx } from '../../src/inbound/mx-server.ts';
import { NOT_KEPT_NOTE } from '../../src/inbound/receive.ts';
import { type InboundConfig, loadInboundConfig } from '../../src/inbound/settings.ts';
import { STORE_BUDGET_REFRESH_MS } from '../../src/inbound/store-budget.ts';
import { openKeptMessage } from '../../src/secrets/sealed-content.ts';
import {
  deleteInboundBefore,
  listInboundMessages,
  sumKeptBytes,
} from '../../src/store/inbound.repository.ts';
import { listSuppressions } from '../../src/store/suppressions.repository.ts';
import { clearCopies } from '../support/at-rest.ts';
import { dialects } from '../support/db.ts';
import { fixture } from './fixtures.ts';
import {
  type FeedbackStore,
  makeAccount,
  makeMessage,
  openFeedbackStore,
  recipientRow,
  type TestAccount,
} from './support.ts';

const MX_NAME = 'mx1.securemail.test';
const MASTER_KEY = randomBytes(32);

function testConfig(overrides: Partial<InboundConfig> = {}): InboundConfig {
  return { ...loadInboundConfig({}), host: '127.0.0.1', port: 0, ...overrides };
}

async function send(
  mx: RunningMx,
  envelope: { from: string; to: string[] },
  raw: Buffer,
): Promise<{ accepted: string[]; response: string }> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: mx.port,
    secure: false,
    requireTLS: true,
    name: 'mail.remote.example',
    // Trust only the MX's own certificate, for this connection only.
    tls: { ca: mx.certificatePem, servername: MX_NAME },
  });
  try {
    const info = await transport.sendMail({ envelope, raw });
    return { accepted: info.accepted.map(String), response: info.response };
  } finally {
    transport.close();
  }
}

for (const dialect of dialects()) {
  describe(`bounce MX (${dialect.name})`, () => {
    let fs: FeedbackStore;
    let mx: RunningMx;
    let account: TestAccount;
    let other: TestAccount;

    before(async () => {
      fs = await openFeedbackStore(dialect);
      account = await makeAccount(fs.store, 'example.nl');
      other = await makeAccount(fs.store, 'other.example', { bounceSubdomain: 'b' });
      mx = await startInboundMx({
        db: fs.db,
        masterKey: MASTER_KEY,
        config: testConfig(),
        hostname: MX_NAME,
      });
    });
    after(async () => {
      await mx.close();
      await fs.close();
    });

    it('offers STARTTLS with a certificate for its host name', () => {
      const cert = new X509Certificate(mx.certificatePem);
      assert.equal(cert.checkHost(MX_NAME), MX_NAME);
    });

    const hard: [string, string][] = [
      ['postfix-failed.eml', '5.1.1'],
      ['m365-failed.eml', '5.1.10'],
      ['gmail-failed.eml', '5.1.1'],
      ['exim-failed.eml', '5.2.1'],
    ];
    for (const [name, status] of hard) {
      it(`attributes ${name} to exactly its recipient and suppresses the address`, async () => {
        const address = `user-${name.split('-')[0]}@remote.example`;
        const [target, bystander] = await makeMessage(fs.db, account, [
          address,
          `bystander-${name}@remote.example`,
        ]);
        const sent = await send(
          mx,
          { from: '', to: [target!.verp] },
          fixture(name, { recipient: address, verp: target!.verp }),
        );
        assert.deepEqual(sent.accepted, [target!.verp]);

        const row = await recipientRow(fs.db, target!.id);
        assert.equal(row.status, 'bounced');
        assert.equal(row.reason, 'remote-bounce');
        assert.ok(row.detail?.startsWith(status), row.detail ?? '');
        assert.equal((await recipientRow(fs.db, bystander!.id)).status, 'delivered');

        const suppressed = await listSuppressions(fs.db, account.accountId, { limit: 100 });
        assert.ok(suppressed.some((s) => s.address === address && s.reason === 'hard_bounce'));
        const [stored] = await listInboundMessages(fs.db, { recipientId: target!.id });
        assert.equal(stored?.account_id, account.accountId);
        assert.ok(stored?.kind === 'dsn' || stored?.kind === 'plain_bounce');
      });
    }

    it('bounces without suppressing on a failure that is not about the address (RFC 3464 example)', async () => {
      const address = 'timeout@remote.example';
      const [target] = await makeMessage(fs.db, account, [address]);
      await send(
        mx,
        { from: '', to: [target!.verp] },
        fixture('rfc3464-failed.eml', { recipient: address, verp: target!.verp }),
      );
      const row = await recipientRow(fs.db, target!.id);
      assert.equal(row.status, 'bounced');
      assert.match(
        row.detail ?? '',
        /^4\.0\.0 426 connection timed out \(reported by mx\.remote\.example\)$/,
      );
      const suppressed = await listSuppressions(fs.db, account.accountId, { limit: 100 });
      assert.ok(!suppressed.some((s) => s.address === address));
    });

    it('records a delayed DSN on a recipient still being retried, without ending it', async () => {
      const address = 'slow@remote.example';
      const [target] = await makeMessage(fs.db, account, [address], 'deferred');
      await send(
        mx,
        { from: '', to: [target!.verp] },
        fixture('postfix-delayed.eml', { recipient: address, verp: target!.verp }),
      );
      const row = await recipientRow(fs.db, target!.id);
      assert.equal(row.status, 'deferred');
      assert.equal(row.final_at, null);
      assert.match(row.detail ?? '', /^4\.4\.1 connect to mx\.remote\.example/);
    });

    it('leaves a delivered recipient alone on delayed and relayed reports', async () => {
      const address = 'relay@remote.example';
      const [target] = await makeMessage(fs.db, account, [address]);
      for (const name of ['rfc3464-delayed.eml', 'rfc3464-relayed.eml']) {
        await send(
          mx,
          { from: '', to: [target!.verp] },
          fixture(name, { recipient: address, verp: target!.verp }),
        );
      }
      const row = await recipientRow(fs.db, target!.id);
      assert.equal(row.status, 'delivered');
      const stored = await listInboundMessages(fs.db, { recipientId: target!.id });
      assert.deepEqual(
        stored.map((s) => s.kind),
        ['dsn', 'dsn'],
      );
    });

    it('refuses mail for domains that are not a bounce domain of an account, at RCPT', async () => {
      for (const to of [
        'bounce+x@example.nl',
        'someone@remote.example',
        'bounce+x@bounce.unknown.example',
        'bounce+x@b.example.nl',
      ]) {
        await assert.rejects(
          send(mx, { from: '', to: [to] }, Buffer.from('Subject: x\r\n\r\nx\r\n')),
          (error: { responseCode?: number; code?: string }) => {
            assert.equal(error.responseCode, 550, to);
            return true;
          },
        );
      }
    });

    it("does not apply a bounce sent to another account's bounce domain", async () => {
      const address = 'cross@remote.example';
      const [target] = await makeMessage(fs.db, account, [address]);
      const wrongDomain = `bounce+${target!.id}@${other.bounceDomain}`;
      await send(
        mx,
        { from: '', to: [wrongDomain] },
        fixture('postfix-failed.eml', { recipient: address, verp: wrongDomain }),
      );
      assert.equal((await recipientRow(fs.db, target!.id)).status, 'delivered');
      const stored = await listInboundMessages(fs.db, { accountId: other.accountId });
      assert.equal(stored.at(-1)?.kind, 'unattributed');
      assert.ok(stored.at(-1)?.raw_sealed !== null);
    });

    it('ignores auto-replies and keeps nothing of their content', async () => {
      const address = 'ooo@remote.example';
      const [target] = await makeMessage(fs.db, account, [address]);
      await send(
        mx,
        { from: '', to: [target!.verp] },
        fixture('auto-reply.eml', { recipient: address, verp: target!.verp }),
      );
      await send(
        mx,
        { from: address, to: [target!.verp] },
        fixture('out-of-office.eml', { recipient: address, verp: target!.verp }),
      );
      assert.equal((await recipientRow(fs.db, target!.id)).status, 'delivered');
      const stored = (
        await listInboundMessages(fs.db, { accountId: account.accountId, limit: 1000 })
      ).filter((s) => s.rcpt_to === target!.verp);
      assert.deepEqual(
        stored.map((s) => [s.kind, s.raw_sealed]),
        [
          ['auto_reply', null],
          ['auto_reply', null],
        ],
      );
    });

    it('keeps malformed reports and non-reports for inspection', async () => {
      const address = 'broken@remote.example';
      const [target] = await makeMessage(fs.db, account, [address]);
      await send(
        mx,
        { from: '', to: [target!.verp] },
        fixture('malformed-report.eml', { recipient: address, verp: target!.verp }),
      );
      await send(
        mx,
        { from: address, to: [target!.verp] },
        fixture('human-reply.eml', { recipient: address, verp: target!.verp }),
      );
      const stored = (
        await listInboundMessages(fs.db, { accountId: account.accountId, limit: 1000 })
      ).filter((s) => s.rcpt_to === target!.verp);
      assert.deepEqual(
        stored.map((s) => s.kind),
        ['unparseable', 'unparseable'],
      );
      const kept = openKeptMessage(MASTER_KEY, stored[0]!)?.toString('utf8');
      assert.match(kept ?? '', /%%%% garbage %%%%/);
      assert.equal((await recipientRow(fs.db, target!.id)).status, 'delivered');
    });

    it('keeps content sealed with the master key: no clear copy in the database', async () => {
      const address = 'sealed@remote.example';
      const [target] = await makeMessage(fs.db, account, [address]);
      const raw = fixture('human-reply.eml', { recipient: address, verp: target!.verp });
      await send(mx, { from: address, to: [target!.verp] }, raw);
      assert.deepEqual(await clearCopies(fs.store, 'I already paid'), []);
      const [row] = await listInboundMessages(fs.db, {
        accountId: account.accountId,
        newestFirst: true,
      });
      assert.equal(row?.rcpt_to, target!.verp);
      assert.deepEqual(openKeptMessage(MASTER_KEY, row!), raw, 'the message as received');
      assert.equal(row?.raw_bytes, raw.length, 'the store budget counts the bytes kept');
      assert.throws(() => openKeptMessage(randomBytes(32), row!), /does not open/);
    });
  });
}

for (const dialect of dialects()) {
  describe(`bounce MX store budget (${dialect.name})`, () => {
    let fs: FeedbackStore;
    let account: TestAccount;
    const clock = { now: 1_000_000 };
    before(async () => {
      fs = await openFeedbackStore(dialect);
      account = await makeAccount(fs.store, 'budget.example');
    });
    after(() => fs.close());

    it('keeps content up to SECUREMAIL_MX_STORE_BYTES over all MX processes, and still applies bounces past it', async () => {
      const [replied, bounced, later] = await makeMessage(fs.db, account, [
        'reply@remote.example',
        'gone@remote.example',
        'later@remote.example',
      ]);
      const reply = (verp: string) =>
        fixture('human-reply.eml', { recipient: 'reply@remote.example', verp });
      const budget = reply(replied!.verp).length + 100;
      const config = testConfig({ storeBytes: budget });
      const now = () => clock.now;
      // Two MX processes on one database, each with its own reading of the total.
      const deps = { db: fs.db, masterKey: MASTER_KEY, config, hostname: MX_NAME, now };
      const first = await startInboundMx(deps);
      const second = await startInboundMx(deps);
      try {
        await send(
          first,
          { from: 'reply@remote.example', to: [replied!.verp] },
          reply(replied!.verp),
        );
        await send(
          second,
          { from: 'reply@remote.example', to: [replied!.verp] },
          reply(replied!.verp),
        );
        const dsn = fixture('postfix-failed.eml', {
          recipient: 'gone@remote.example',
          verp: bounced!.verp,
        });
        assert.ok(dsn.length > 100);
        await send(first, { from: '', to: [bounced!.verp] }, dsn);

        const rows = await listInboundMessages(fs.db, { accountId: account.accountId });
        assert.deepEqual(
          rows.map((r) => [
            r.kind,
            r.raw_sealed === null,
            r.raw_bytes,
            r.outcome.includes(NOT_KEPT_NOTE),
          ]),
          [
            ['unparseable', false, reply(replied!.verp).length, false],
            ['unparseable', true, 0, true],
            ['dsn', true, 0, true],
          ],
        );
        // The bounce past the budget did its work all the same.
        assert.equal((await recipientRow(fs.db, bounced!.id)).status, 'bounced');
        const suppressed = await listSuppressions(fs.db, account.accountId, { limit: 10 });
        assert.ok(suppressed.some((x) => x.address === 'gone@remote.example'));

        // Retention frees the space; the next reading of the total sees it.
        assert.equal(await deleteInboundBefore(fs.db, clock.now + 1), 3);
        clock.now += STORE_BUDGET_REFRESH_MS;
        await send(first, { from: 'later@remote.example', to: [later!.verp] }, reply(later!.verp));
        const [kept] = await listInboundMessages(fs.db, { accountId: account.accountId });
        assert.ok(kept?.raw_sealed !== null && kept?.raw_bytes === reply(later!.verp).length);
        assert.equal(await sumKeptBytes(fs.db), reply(later!.verp).length);
      } finally {
        await first.close();
        await second.close();
      }
    });

    it('keeps no content at all with SECUREMAIL_MX_STORE_BYTES=0', async () => {
      const [target] = await makeMessage(fs.db, account, ['zero@remote.example']);
      const mx = await startInboundMx({
        db: fs.db,
        masterKey: MASTER_KEY,
        config: testConfig({ storeBytes: 0 }),
        hostname: MX_NAME,
      });
      try {
        const raw = fixture('human-reply.eml', {
          recipient: 'zero@remote.example',
          verp: target!.verp,
        });
        await send(mx, { from: 'zero@remote.example', to: [target!.verp] }, raw);
        const [row] = await listInboundMessages(fs.db, {
          accountId: account.accountId,
          newestFirst: true,
        });
        assert.equal(row?.raw_sealed, null);
        assert.ok(row?.outcome.includes(NOT_KEPT_NOTE));
      } finally {
        await mx.close();
      }
    });
  });
}

describe('bounce MX limits', () => {
  const dialect = dialects()[0]!;
  let fs: FeedbackStore;
  let account: TestAccount;
  before(async () => {
    fs = await openFeedbackStore(dialect);
    account = await makeAccount(fs.store, 'example.nl');
  });
  after(() => fs.close());

  it('refuses an oversized message with 552 and keeps its head', async () => {
    const mx = await startInboundMx({
      db: fs.db,
      masterKey: MASTER_KEY,
      config: testConfig({ maxMessageBytes: 10 * 1024, keepBytes: 2048 }),
      hostname: MX_NAME,
    });
    try {
      const [target] = await makeMessage(fs.db, account, ['big@remote.example']);
      const body = `Subject: big\r\n\r\n${'x'.repeat(70)}\r\n`.repeat(400);
      const transcript = await rawSmtp(mx.port, [
        'EHLO mail.remote.example',
        'MAIL FROM:<>',
        `RCPT TO:<${target!.verp}>`,
        'DATA',
        `${body}.`,
        'QUIT',
      ]);
      assert.match(transcript, /^552 5\.3\.4/m);
      const all = await listInboundMessages(fs.db, { accountId: account.accountId });
      const big = all.find((s) => s.kind === 'oversized');
      assert.ok(big !== undefined);
      assert.equal(big.raw_truncated, 1);
      assert.equal(openKeptMessage(MASTER_KEY, big)?.length, 2048);
      assert.ok(big.size > 10 * 1024);
      assert.equal((await recipientRow(fs.db, target!.id)).status, 'delivered');
    } finally {
      await mx.close();
    }
  });

  it('limits connections per address per minute and recipients per message', async () => {
    const mx = await startInboundMx({
      db: fs.db,
      masterKey: MASTER_KEY,
      config: testConfig({ connectionsPerMinute: 2, maxRecipients: 2 }),
      hostname: MX_NAME,
    });
    try {
      const [a, b, c] = await makeMessage(fs.db, account, [
        'a@r.example',
        'b@r.example',
        'c@r.example',
      ]);
      const first = await rawSmtp(mx.port, [
        'EHLO x.example',
        'MAIL FROM:<>',
        `RCPT TO:<${a!.verp}>`,
        `RCPT TO:<${b!.verp}>`,
        `RCPT TO:<${c!.verp}>`,
        'QUIT',
      ]);
      assert.match(first, /^452 4\.5\.3/m);
      await rawSmtp(mx.port, ['QUIT']);
      const third = await rawSmtp(mx.port, ['QUIT']);
      assert.match(third, /^421 /m);
    } finally {
      await mx.close();
    }
  });
});

/** A plain-text SMTP dialogue, one command per reply; returns everything the server said. */
async function rawSmtp(port: number, commands: string[]): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  let transcript = '';
  let waiting: (() => void) | undefined;
  socket.on('data', (data) => {
    transcript += data.toString('utf8');
    // A complete reply ends with a line "NNN text" (no hyphen after the code).
    if (/(^|\r\n)\d{3} [^\r\n]*\r\n$/.test(transcript)) waiting?.();
  });
  const reply = () =>
    new Promise<void>((resolve) => {
      waiting = resolve;
      socket.once('close', resolve);
    });
  await reply(); // greeting
  for (const command of commands) {
    if (socket.destroyed) break;
    const next = reply();
    socket.write(`${command}\r\n`);
    await next;
  }
  socket.destroy();
  return transcript;
}
