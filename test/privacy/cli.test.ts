// `securemail data-subject show|erase` and `securemail report`, run as real processes the way
// an operator runs them, on SQLite (the data directory's file) and on PostgreSQL (a database
// made for the run) when configured: the same access, erasure and report as the API, scoped
// to the client named on the command line.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { loadMasterKey } from '../../src/secrets/master-key.ts';
import { sealSubject } from '../../src/secrets/sealed-content.ts';
import { openStore, type Store } from '../../src/store/database.ts';
import { cli } from '../cli/run.ts';
import { makeAccount, makeMessage, type TestAccount } from '../inbound/support.ts';
import { postgresUrl } from '../support/db.ts';
import { walkForAddress } from './walk.ts';

/** Each run gets its own database: SQLite in the data directory, or a PostgreSQL database made for it. */
interface Target {
  name: string;
  /** The DATABASE_URL to give the command, if any. */
  setUp(): Promise<string | undefined>;
  tearDown(): Promise<void>;
}

const targets: Target[] = [
  { name: 'sqlite', setUp: async () => undefined, tearDown: async () => {} },
];
if (postgresUrl !== undefined) {
  const name = `securemail_cli_${Date.now().toString(36)}_${process.pid}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  targets.push({
    name: 'postgres',
    async setUp() {
      await admin(`create database ${name}`);
      const url = new URL(postgresUrl!);
      url.pathname = `/${name}`;
      return url.toString();
    },
    tearDown: () => admin(`drop database if exists ${name}`),
  });
}

for (const target of targets)
  describe(`securemail data-subject and report (${target.name})`, () => {
    let dir: string;
    let env: Record<string, string>;
    let store: Store;
    let mine: TestAccount;
    let theirs: TestAccount;
    let masterKey: Buffer;

    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'securemail-privacy-cli-'));
      env = { SECUREMAIL_DATA_DIR: dir, SECUREMAIL_LOG_LEVEL: 'warn' };
      const databaseUrl = await target.setUp();
      if (databaseUrl !== undefined) env.DATABASE_URL = databaseUrl;
      const migrated = await cli(['migrate'], env);
      assert.equal(migrated.code, 0, migrated.stderr);
      masterKey = loadMasterKey(undefined, dir).key;
      store = openStore({ databaseUrl, sqlitePath: path.join(dir, 'securemail.db') });
      mine = await makeAccount(store, 'mine.nl');
      theirs = await makeAccount(store, 'mine.nl'); // another tenant claiming the same domain
      for (const account of [mine, theirs]) {
        const [r] = await makeMessage(store.db, account, ['Jan@Example.nl'], 'delivered');
        await store.db
          .updateTable('messages')
          .set({
            subject_sealed: sealSubject(masterKey, r!.messageId, 'About jan@example.nl'),
            completed_at: 1_000,
          })
          .where('id', '=', r!.messageId)
          .execute();
      }
    });
    after(async () => {
      await store.close();
      await target.tearDown();
      rmSync(dir, { recursive: true, force: true });
    });

    const args = (account: TestAccount) => ['--client', account.clientId, '--domain', 'mine.nl'];

    test("show: the client's own data about the address, as JSON", async () => {
      const shown = await cli(
        ['data-subject', 'show', ...args(mine), '--address', 'jan@example.nl'],
        env,
      );
      assert.equal(shown.code, 0, shown.stderr);
      const body = JSON.parse(shown.stdout);
      assert.equal(body.messages.length, 1);
      assert.equal(body.messages[0].subject, 'About jan@example.nl');
      const wrong = await cli(
        [
          'data-subject',
          'show',
          '--client',
          'nobody',
          '--domain',
          'mine.nl',
          '--address',
          'jan@example.nl',
        ],
        env,
      );
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /has no account for mine\.nl/);
      assert.equal(
        (await cli(['data-subject', 'show', ...args(mine), '--address', 'jan'], env)).code,
        2,
      );
    });

    test("erase: gone from the client's rows, the other tenant's untouched", async () => {
      const before = await walkForAddress(store, masterKey, 'jan@example.nl');
      const erased = await cli(
        ['data-subject', 'erase', ...args(mine), '--address', 'JAN@example.nl'],
        env,
      );
      assert.equal(erased.code, 0, erased.stderr);
      const result = JSON.parse(erased.stdout);
      assert.equal(result.counts.recipients, 1);
      assert.equal(result.counts.messages, 1);
      const left = await walkForAddress(store, masterKey, 'jan@example.nl');
      assert.ok(left.length > 0 && left.length < before.length);
      const theirMessages = await store.db
        .selectFrom('messages')
        .select('id')
        .where('account_id', '=', theirs.accountId)
        .execute();
      for (const o of left) {
        assert.ok(
          theirMessages.some((m) => o.row.includes(m.id)),
          `only the other tenant's rows hold it: ${o.table}.${o.column}`,
        );
      }
      const record = await store.db.selectFrom('erasures').selectAll().executeTakeFirstOrThrow();
      assert.equal(record.requested_via, 'cli');
      assert.equal(record.client_id, mine.clientId);
    });

    test('report: JSON to stdout, PDF to a file', async () => {
      const json = await cli(
        ['report', ...args(mine), '--from', '1970-01-01T00:00:00Z', '--to', '1970-12-01T00:00:00Z'],
        env,
      );
      assert.equal(json.code, 0, json.stderr);
      const report = JSON.parse(json.stdout);
      assert.equal(report.domain, 'mine.nl');
      assert.equal(report.accepted.messages, 1);
      assert.equal(report.erasures, 0, 'the erasure was made now, outside 1970');
      const out = path.join(dir, 'report.pdf');
      const pdf = await cli(['report', ...args(mine), '--format', 'pdf', '--out', out], env);
      assert.equal(pdf.code, 0, pdf.stderr);
      assert.equal(readFileSync(out).subarray(0, 5).toString(), '%PDF-');
      try {
        const text = execFileSync('pdftotext', ['-layout', out, '-'], { encoding: 'utf8' });
        assert.match(text, /Secure delivery report: mine\.nl/);
        assert.match(text, /Erasures of a data subject\s+1/);
      } catch (error) {
        if ((error as { code?: string }).code !== 'ENOENT') throw error;
      }
      assert.equal((await cli(['report', ...args(mine), '--format', 'pdf'], env)).code, 2);
    });
  });
