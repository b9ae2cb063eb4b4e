// The operator's commands (accounts, messages, queue, suppressions, --help) run as real
// processes on a SQLite file that real deliveries filled: the in-process world (DNS server
// with AD, SMTP servers with test certificates, API app, worker) sends one message to a
// secure server, an insecure one and a domain whose DNS fails, then the CLI reads the file.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrations.ts';
import { mime, START, startWorld } from '../delivery/support.ts';
import { cli } from './run.ts';

describe('securemail operator commands', () => {
  let dir: string;
  let env: Record<string, string>;
  let messageId: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'securemail-operator-'));
    const store = openStore({ sqlitePath: path.join(dir, 'securemail.db') });
    await migrateToLatest(store.db);
    const world = await startWorld(store);
    try {
      await world.addMx('ok.test', '127.0.0.1');
      await world.addMx('plain.test', '127.0.0.2', { insecure: true });
      world.dns.fail('broken.test', 'servfail', 'MX');
      const submitted = await world.submit({
        sender: 'news@shop.nl',
        recipients: ['a@ok.test', 'b@plain.test', 'c@broken.test'],
        message: mime({ Subject: 'Operator view' }),
      });
      assert.equal(submitted.statusCode, 202, submitted.body);
      messageId = submitted.json().id;
      await world.drain();
      const suppressed = await world.app.inject({
        method: 'POST',
        url: '/account/suppressions?domain=shop.nl',
        headers: world.tenant.auth,
        payload: { address: 'gone@example.org', detail: 'asked to stop' },
      });
      assert.equal(suppressed.statusCode, 201, suppressed.body);
      env = {
        SECUREMAIL_DATA_DIR: dir,
        SECUREMAIL_LOG_LEVEL: 'warn',
        SECUREMAIL_MASTER_KEY: world.masterKey.toString('base64'),
        SECUREMAIL_HOSTNAME: world.config.hostname,
        SECUREMAIL_MX_HOSTS: world.config.mxHosts.join(','),
        SECUREMAIL_SPF_INCLUDE: 'spf.platform.test',
      };
    } finally {
      await world.close();
      await store.close();
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('accounts list and show: every client, the DNS records with their status', async () => {
    const [json, text, show, showJson, none] = await Promise.all([
      cli(['accounts', 'list', '--json'], env),
      cli(['accounts', 'list'], env),
      cli(['accounts', 'show', 'shop.nl'], env),
      cli(['accounts', 'show', 'SHOP.NL.', '--json'], env),
      cli(['accounts', 'show', 'other.nl'], env),
    ]);
    assert.equal(json.code, 0, json.stderr);
    const [account] = JSON.parse(json.stdout);
    assert.equal(account.domain, 'shop.nl');
    assert.equal(account.state, 'valid');
    assert.equal(account.client_name, 'shop');
    assert.equal(account.suppressions, 1);
    assert.match(account.created_at, /^\d{4}-\d\d-\d\dT.*Z$/);
    assert.match(text.stdout, /^DOMAIN +STATE +POLICY +CLIENT/m);
    assert.match(text.stdout, /^shop\.nl +valid +verified +shop \(/m);

    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^domain: +shop\.nl \(valid\)$/m);
    assert.match(show.stdout, /^success +MX +bounce\.shop\.nl +10 mx1\.platform\.test$/m);
    assert.match(show.stdout, /^success +TXT +_securemail\.shop\.nl/m);
    const [shown] = JSON.parse(showJson.stdout);
    assert.equal(shown.sending_dns_records.spf.status, 'success');
    assert.equal(shown.bounce_subdomain, 'bounce.shop.nl');
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no account other\.nl/);
  });

  test('messages list: counts per status, and the filters of GET /messages', async () => {
    const at = (ms: number) => new Date(ms).toISOString();
    const [all, text, refused, bounced, otherDomain, later, notifications] = await Promise.all([
      cli(['messages', 'list', '--json'], env),
      cli(['messages', 'list'], env),
      cli(['messages', 'list', '--status', 'refused_insecure', '--json'], env),
      cli(['messages', 'list', '--status', 'bounced', '--json'], env),
      cli(['messages', 'list', '--domain', 'other.nl', '--json'], env),
      cli(['messages', 'list', '--since', at(START + 3_600_000), '--json'], env),
      cli(['messages', 'list', '--kind', 'notification', '--json'], env),
    ]);
    assert.equal(all.code, 0, all.stderr);
    const [message] = JSON.parse(all.stdout);
    assert.equal(message.id, messageId);
    assert.equal(message.account_domain, 'shop.nl');
    assert.equal(message.client_name, 'shop');
    assert.equal(message.subject, 'Operator view', 'opened with the master key');
    assert.deepEqual(message.statuses, { delivered: 1, refused_insecure: 1, deferred: 1 });
    assert.equal(message.created_at, at(START));
    assert.match(
      text.stdout,
      new RegExp(`^${messageId} +${at(START)} +shop\\.nl +shop +message`, 'm'),
    );
    assert.match(text.stdout, /Operator view$/m);
    assert.deepEqual(
      JSON.parse(refused.stdout).map((m: { id: string }) => m.id),
      [messageId],
    );
    for (const empty of [bounced, otherDomain, later, notifications]) {
      assert.equal(empty.code, 0, empty.stderr);
      assert.deepEqual(JSON.parse(empty.stdout), []);
    }
  });

  test('messages show: each recipient with its reason in words and the evidence', async () => {
    const [text, json, missing] = await Promise.all([
      cli(['messages', 'show', messageId], env),
      cli(['messages', 'show', messageId, '--json'], env),
      cli(['messages', 'show', 'no-such-message'], env),
    ]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^account: +shop\.nl/m);
    assert.match(text.stdout, /^a@ok\.test {2}delivered {2}attempts: 1$/m);
    assert.match(
      text.stdout,
      /evidence: mx\.ok\.test \[127\.0\.0\.1\]; authenticated by pkix; TLSv1\.[23]/,
    );
    assert.match(text.stdout, /^b@plain\.test {2}refused_insecure \(starttls-not-supported\)/m);
    assert.match(text.stdout, /why: +The mail server does not offer encryption/);
    assert.match(text.stdout, /fix: +Enable STARTTLS/);
    assert.match(
      text.stdout,
      /^c@broken\.test {2}deferred \(dns-temporary-failure\) {2}attempts: 1 {2}next: /m,
    );

    const shown = JSON.parse(json.stdout);
    assert.equal(shown.client_name, 'shop');
    const byAddress = new Map(
      shown.recipients.map((r: { address: string }) => [r.address, r] as const),
    );
    const delivered = byAddress.get('a@ok.test') as {
      history: { evidence: { authentication: string } }[];
      final_at: string;
    };
    assert.equal(delivered.history[0]?.evidence.authentication, 'pkix');
    assert.match(delivered.final_at, /Z$/);
    const refused = byAddress.get('b@plain.test') as { explanation: string; fix: string };
    assert.match(refused.explanation, /does not offer encryption/);
    assert.equal(missing.code, 1);
  });

  test('queue: counts, the oldest deferred and its reason, per destination', async () => {
    const [json, text] = await Promise.all([cli(['queue', '--json'], env), cli(['queue'], env)]);
    assert.equal(json.code, 0, json.stderr);
    const q = JSON.parse(json.stdout);
    assert.equal(q.queued, 0);
    assert.equal(q.deferred, 1);
    assert.equal(q.in_flight, 0);
    assert.equal(q.oldest_deferred.domain, 'broken.test');
    assert.equal(q.oldest_deferred.reason, 'dns-temporary-failure');
    assert.equal(q.oldest_deferred.message_id, messageId);
    assert.equal(q.due, 1, 'the test clock is behind the real one: the retry is due');
    assert.equal(q.next_retry_at, null, 'no retry still to come');
    assert.deepEqual(
      q.destinations.map((d: { domain: string; deferred: number; reason: string }) => [
        d.domain,
        d.deferred,
        d.reason,
      ]),
      [['broken.test', 1, 'dns-temporary-failure']],
    );
    assert.match(text.stdout, /^deferred: +1$/m);
    assert.match(text.stdout, /^broken\.test +0 +1 +\S+ ago +due +dns-temporary-failure$/m);
  });

  test('suppressions: per account, with client, reason and detail', async () => {
    const [json, text, other] = await Promise.all([
      cli(['suppressions', '--json'], env),
      cli(['suppressions', '--domain', 'shop.nl'], env),
      cli(['suppressions', '--domain', 'other.nl', '--json'], env),
    ]);
    assert.equal(json.code, 0, json.stderr);
    const [entry] = JSON.parse(json.stdout);
    assert.equal(entry.address, 'gone@example.org');
    assert.equal(entry.account_domain, 'shop.nl');
    assert.equal(entry.client_name, 'shop');
    assert.equal(entry.reason, 'manual');
    assert.equal(entry.detail, 'asked to stop');
    assert.match(text.stdout, /^shop\.nl +shop +gone@example\.org +manual +\S+Z +asked to stop$/m);
    assert.deepEqual(JSON.parse(other.stdout), []);
  });

  test('wrong usage exits 2 and says how', async () => {
    const results = await Promise.all([
      cli(['messages', 'list', '--status', 'lost'], env),
      cli(['messages', 'show'], env),
      cli(['messages', 'list', '--since', 'yesterday'], env),
      cli(['queue', 'now'], env),
      cli(['accounts', 'list', '--state', 'odd'], env),
      cli(['suppressions', '--limit', '0'], env),
      cli(['accounts'], env),
    ]);
    for (const result of results) {
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /^securemail: /);
    }
    assert.match(results[0]!.stderr, /--status must be one of queued, deferred/);
    assert.match(results[0]!.stderr, /securemail messages --help/);
    assert.match(results[1]!.stderr, /usage: securemail messages show MESSAGE_ID/);
  });
});

describe('securemail --help', () => {
  // A broken setting must not hide the help that explains it.
  const env = { SECUREMAIL_HTTP_PORT: 'eighty' };
  const commands = [
    'serve',
    'migrate',
    'doctor',
    'client',
    'accounts',
    'messages',
    'queue',
    'suppressions',
    'check',
    'inbound',
  ];

  test('every command answers --help and -h with its usage and exit 0', async () => {
    const results = await Promise.all([
      ...commands.map((command) => cli([command, '--help'], env)),
      cli(['messages', 'show', '-h'], env),
    ]);
    results.forEach((result, i) => {
      const command = commands[i] ?? 'messages';
      assert.equal(result.code, 0, `${command}: ${result.stderr}`);
      assert.match(result.stdout, new RegExp(`^Usage: securemail ${command}`), command);
      assert.equal(result.stderr, '');
    });
  });

  test('the overview names every command; help COMMAND is COMMAND --help', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'securemail-help-'));
    const [overview, topic, bare, after] = await Promise.all([
      cli(['--help'], env),
      cli(['help', 'check'], env),
      cli([], env),
      cli(['client', 'rotate', '--', '--help'], { SECUREMAIL_DATA_DIR: dir }),
    ]).finally(() => rmSync(dir, { recursive: true, force: true }));
    assert.equal(overview.code, 0);
    for (const command of commands)
      assert.match(overview.stdout, new RegExp(`^ {2}${command}\\b`, 'm'));
    assert.equal(topic.code, 0);
    assert.match(topic.stdout, /^Usage: securemail check <domain\|address>/);
    assert.match(topic.stdout, /Exit 0 all deliverable/);
    assert.equal(bare.code, 2, 'no command at all is wrong usage');
    // After `--`, --help is an argument (a client id), not a request for help.
    assert.equal(after.code, 1);
    assert.match(after.stderr, /no client --help/);
  });
});
