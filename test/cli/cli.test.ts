// The securemail command, run as a real process the way an operator runs it.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadMasterKey } from '../../src/secrets/master-key.ts';
import { sealKeptMessage } from '../../src/secrets/sealed-content.ts';
import { hashSecret } from '../../src/secrets/secret-hash.ts';
import { insertClient } from '../../src/store/clients.repository.ts';
import { openStore } from '../../src/store/database.ts';
import { cli, MAIN } from './run.ts';

describe('securemail CLI', () => {
  let dir: string;
  let env: Record<string, string>;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'securemail-cli-'));
    env = { SECUREMAIL_DATA_DIR: dir, SECUREMAIL_LOG_LEVEL: 'warn' };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('usage and unknown commands exit 2', async () => {
    assert.equal((await cli([], env)).code, 2);
    const unknown = await cli(['frobnicate'], env);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    assert.equal((await cli(['serve', '--roles', 'api,cook'], env)).code, 2);
  });

  test('a bad setting stops the process with one message naming the variable', async () => {
    const result = await cli(['migrate'], { ...env, SECUREMAIL_HTTP_PORT: 'eighty' });
    assert.equal(result.code, 78);
    assert.equal(
      result.stderr.trim(),
      'securemail: configuration error: SECUREMAIL_HTTP_PORT: must be a whole number, got "eighty"',
    );
  });

  test('migrate creates the database and a master key file readable only by its owner', async () => {
    const result = await cli(['migrate'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /up to date/);
    assert.match(result.stdout, /securemail\.db/);
    assert.match(result.stderr, /SECUREMAIL_MASTER_KEY is not set/);
    assert.equal(statSync(path.join(dir, 'master.key')).mode & 0o777, 0o600);
    const again = await cli(['migrate'], env);
    assert.doesNotMatch(again.stderr, /MASTER_KEY is not set/, 'the stored key is reused');
  });

  test('client create, list, rotate, delete', async () => {
    const created = await cli(['client', 'create', '--name', 'Webshop', '--json'], env);
    assert.equal(created.code, 0, created.stderr);
    const { client_id, client_secret } = JSON.parse(created.stdout);
    assert.ok(client_id && client_secret);

    const listed = await cli(['client', 'list', '--json'], env);
    const clients = JSON.parse(listed.stdout) as Array<{
      client_id: string;
      name: string;
      created_at: string;
    }>;
    const listedClient = clients.find((c) => c.client_id === client_id);
    assert.equal(listedClient?.name, 'Webshop');
    assert.match(
      listedClient?.created_at ?? '',
      /^\d{4}-\d\d-\d\dT.*Z$/,
      'ISO times, as everywhere',
    );
    assert.doesNotMatch(listed.stdout, new RegExp(client_secret), 'secrets are never listed');

    const rotated = await cli(['client', 'rotate', client_id, '--json'], env);
    assert.equal(rotated.code, 0);
    assert.notEqual(JSON.parse(rotated.stdout).client_secret, client_secret);

    assert.equal((await cli(['client', 'create'], env)).code, 2, '--name is required');
    assert.equal((await cli(['client', 'rotate', 'nobody'], env)).code, 1);
    assert.equal((await cli(['client', 'delete', client_id], env)).code, 0);
    assert.equal((await cli(['client', 'delete', client_id], env)).code, 1);
  });

  test('a client id that begins with "-" (made before ids were alphanumeric) goes after --', async () => {
    assert.equal((await cli(['migrate'], env)).code, 0);
    const store = openStore({ sqlitePath: path.join(dir, 'securemail.db') });
    try {
      await insertClient(store.db, {
        clientId: '-dashed_Id',
        name: 'Old',
        secretHash: await hashSecret('old secret'),
        quotaLimit: null,
        now: Date.now(),
      });
    } finally {
      await store.close();
    }
    const bare = await cli(['client', 'rotate', '-dashed_Id'], env);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /--/, 'the usage error says how to pass it');
    const rotated = await cli(['client', 'rotate', '--json', '--', '-dashed_Id'], env);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.equal(JSON.parse(rotated.stdout).client_id, '-dashed_Id');
    assert.equal((await cli(['client', 'delete', '--', '-dashed_Id'], env)).code, 0);
  });

  test('inbound list and show: what the bounce MX kept for inspection, opened with the master key', async () => {
    assert.equal((await cli(['migrate'], env)).code, 0);
    const { key } = loadMasterKey(undefined, dir);
    const kept = Buffer.from('Subject: ???\r\n\r\nodd');
    const store = openStore({ sqlitePath: path.join(dir, 'securemail.db') });
    try {
      await store.db
        .insertInto('inbound_messages')
        .values({
          id: 'inbound-1',
          received_at: Date.UTC(2026, 10, 28),
          mail_from: '',
          rcpt_to: 'bounce+x@bounce.shop.nl',
          remote_address: '192.0.2.1',
          helo: 'mx.remote.example',
          size: 20,
          kind: 'unparseable',
          account_id: null,
          recipient_id: null,
          report_json: null,
          outcome: 'not a delivery report',
          raw_sealed: sealKeptMessage(key, 'inbound-1', kept),
          raw_truncated: 0,
          raw_bytes: kept.length,
        })
        .execute();
    } finally {
      await store.close();
    }
    const list = await cli(['inbound', 'list', '--kind', 'unparseable', '--json'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      JSON.parse(list.stdout).map((r: { id: string; kind: string }) => [r.id, r.kind]),
      [['inbound-1', 'unparseable']],
    );
    const show = await cli(['inbound', 'show', 'inbound-1'], env);
    assert.match(show.stdout, /not a delivery report/);
    assert.match(show.stdout, /Subject: \?\?\?/);
    const json = await cli(['inbound', 'show', 'inbound-1', '--json'], env);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(Buffer.from(JSON.parse(json.stdout).raw, 'base64'), kept);
    assert.equal(JSON.parse(json.stdout).received_at, '2026-11-28T00:00:00.000Z');
    assert.equal(JSON.parse(json.stdout).raw_truncated, false);
    assert.equal(JSON.parse(json.stdout).raw_sealed, undefined);
    assert.equal((await cli(['inbound', 'show', 'nope'], env)).code, 1);
    assert.equal((await cli(['inbound', 'list', '--kind', 'spam'], env)).code, 2);
  });

  test('serve answers HTTP, works next to the CLI on one SQLite file, and stops on SIGTERM', async () => {
    const child: ChildProcess = spawn(process.execPath, [MAIN, 'serve', '--roles', 'api'], {
      env: {
        PATH: process.env.PATH ?? '',
        ...env,
        SECUREMAIL_HTTP_PORT: '0',
        SECUREMAIL_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let buffer = '';
        child.stdout?.on('data', (chunk: Buffer) => {
          buffer += chunk.toString();
          const match = /"url":"(http:\/\/[^"]+)","docs"/.exec(buffer);
          if (match) resolve(match[1]!);
        });
        child.once('exit', (code) =>
          reject(new Error(`serve exited early with ${code}: ${buffer}`)),
        );
      });
      assert.equal((await fetch(`${url}/healthz`)).status, 200);

      const created = await cli(['client', 'create', '--name', 'live', '--json'], env);
      const { client_id, client_secret } = JSON.parse(created.stdout);
      const token = await fetch(
        `${url}/oauth/client_credential/accesstoken?grant_type=client_credentials`,
        {
          method: 'POST',
          body: new URLSearchParams({ client_id, client_secret }),
        },
      );
      assert.equal(token.status, 200);

      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
