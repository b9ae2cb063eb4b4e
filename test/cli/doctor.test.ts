// `securemail doctor` run as a real process against an in-process DNS server with AD, on
// ports held by a running API, a running bounce MX or another program, with files of the
// wrong modes, a database of a newer version, a clock behind the recorded times: each
// finding says what it found and what to do, the exit code says whether anything failed, and
// nothing is changed.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { buildApp } from '../../src/api/app.ts';
import { loadConfig } from '../../src/config.ts';
import { startInboundMx } from '../../src/inbound/mx-server.ts';
import { openStore } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrations.ts';
import { insertTokenIssuedLater } from '../doctor/support.ts';
import { chainPem, makeCa, makeLeaf } from '../support/certs.ts';
import { TestDnsServer } from '../support/dns-server.ts';
import { cli } from './run.ts';

interface Report {
  status: string;
  findings: { check: string; status: string; message: string; fix: string | null }[];
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The findings of one check, as `status message` lines. */
function of(report: Report, check: string): string[] {
  return report.findings.filter((f) => f.check === check).map((f) => `${f.status} ${f.message}`);
}

describe('securemail doctor', () => {
  let dir: string;
  let dns: TestDnsServer;
  let base: Record<string, string>;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'securemail-doctor-'));
    dns = await TestDnsServer.start();
    dns.set('platform.test', [{ type: 'A', data: '127.0.0.1' }]);
    dns.set('mx1.platform.test', [{ type: 'A', data: '127.0.0.1' }]);
    base = {
      SECUREMAIL_DATA_DIR: path.join(dir, 'data'),
      SECUREMAIL_LOG_LEVEL: 'warn',
      SECUREMAIL_HOSTNAME: 'platform.test',
      SECUREMAIL_MX_HOSTS: 'mx1.platform.test,mx2.platform.test',
      SECUREMAIL_DNS_SERVERS: dns.server,
      SECUREMAIL_DNS_TIMEOUT_MS: '500',
      SECUREMAIL_HTTP_PORT: String(await freePort()),
      SECUREMAIL_MX_HOST: '127.0.0.1',
      SECUREMAIL_MX_PORT: String(await freePort()),
    };
  });
  after(async () => {
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a fresh machine: what is missing, what the first start makes; nothing is made', async () => {
    const result = await cli(['doctor', '--json'], base);
    assert.equal(result.code, 1, 'an MX host name that does not exist fails');
    const report = JSON.parse(result.stdout) as Report;
    assert.equal(report.status, 'fail');
    assert.deepEqual(of(report, 'hostname'), [
      'ok platform.test resolves to 127.0.0.1: an address of this machine',
    ]);
    assert.deepEqual(of(report, 'mx-host'), [
      'ok mx1.platform.test resolves to 127.0.0.1: an address of this machine',
      'fail mx2.platform.test (SECUREMAIL_MX_HOSTS) does not exist in DNS',
    ]);
    const mx2 = report.findings.find((f) => f.message.startsWith('mx2'));
    assert.match(mx2?.fix ?? '', /publish an A \(and AAAA\) record for mx2\.platform\.test/);
    assert.deepEqual(of(report, 'dns-resolver'), [
      `ok ${dns.server} validates DNSSEC (AD on the signed root); its AD bit is trusted`,
    ]);
    assert.match(of(report, 'http-port')[0]!, /^ok the API can listen on 127\.0\.0\.1:\d+$/);
    assert.match(of(report, 'mx-port')[0]!, /^ok the bounce MX can listen on 127\.0\.0\.1:\d+$/);
    assert.match(
      of(report, 'data-dir')[0]!,
      /^info .* does not exist yet; the first start makes it/,
    );
    assert.match(
      of(report, 'master-key')[0]!,
      /^warn no SECUREMAIL_MASTER_KEY and no .*master\.key/,
    );
    assert.match(of(report, 'mx-tls')[0]!, /^warn .*self-signed certificate/);
    assert.match(of(report, 'database')[0]!, /^info no database yet at .*securemail\.db/);
    assert.match(of(report, 'clock')[0]!, /^ok \d{4}-/);
    assert.match(of(report, 'ca-file')[0]!, /^ok no SECUREMAIL_CA_FILE/);
    for (const f of report.findings) {
      assert.equal(
        f.fix === null,
        f.status === 'ok' || f.status === 'info',
        `${f.check}: ${f.message}`,
      );
    }
    assert.equal(existsSync(base.SECUREMAIL_DATA_DIR!), false, 'the doctor made nothing');

    const localhost = await cli(['doctor', '--json'], {
      ...base,
      SECUREMAIL_HOSTNAME: 'localhost',
      SECUREMAIL_MX_HOSTS: '',
    });
    const defaults = JSON.parse(localhost.stdout) as Report;
    assert.match(
      of(defaults, 'hostname')[0]!,
      /^warn SECUREMAIL_HOSTNAME is localhost \(the default\)/,
    );
    assert.match(of(defaults, 'mx-host')[0]!, /^warn mx1\.localhost cannot be published in DNS/);
  });

  test('after a start: files too open, a running API and bounce MX, plain text output', async () => {
    dns.set('mx2.platform.test', [{ type: 'A', data: '127.0.0.1' }]);
    assert.equal((await cli(['migrate'], base)).code, 0);
    const data = base.SECUREMAIL_DATA_DIR!;
    chmodSync(data, 0o755);
    chmodSync(path.join(data, 'master.key'), 0o644);

    const config = loadConfig(base);
    const apiStore = openStore({});
    await migrateToLatest(apiStore.db);
    const app = await buildApp({ config, store: apiStore, logger: false });
    await app.listen({ host: '127.0.0.1', port: config.httpPort });
    const mxStore = openStore({});
    await migrateToLatest(mxStore.db);
    const mx = await startInboundMx({
      db: mxStore.db,
      masterKey: randomBytes(32),
      config: config.inbound,
      hostname: 'platform.test',
    });
    try {
      const result = await cli(['doctor'], base);
      assert.equal(result.code, 1, result.stderr);
      const lines = result.stdout.trim().split('\n');
      const line = (check: string) => lines.filter((l) => new RegExp(`^\\S+ +${check} `).test(l));
      assert.match(
        line('http-port')[0]!,
        /^ok +http-port +127\.0\.0\.1:\d+ is in use by a running SecureMail API$/,
      );
      assert.match(
        line('mx-port')[0]!,
        /^ok +mx-port +127\.0\.0\.1:\d+ is in use by a running SecureMail bounce MX \(220 platform\.test/,
      );
      assert.match(
        line('data-dir')[0]!,
        /^WARN +data-dir +.* is open to group or others \(mode 755\).*; fix: chmod 700 /,
      );
      assert.match(
        line('master-key')[0]!,
        /^FAIL +master-key +.*master\.key is readable by group or others \(mode 644\).*; fix: chmod 600 /,
      );
      assert.match(
        line('master-key')[1]!,
        /^ok +master-key +the master key is the one the database was set up with$/,
      );
      assert.match(
        line('database')[0]!,
        /^ok +database +sqlite:.*securemail\.db: schema up to date \(\d+ migrations\)$/,
      );
      assert.match(line('mx-host').join('\n'), /mx2\.platform\.test resolves to 127\.0\.0\.1/);
      assert.match(lines.at(-1)!, /^1 failed, 2 warning\(s\), \d+ ok \(exit 1\)$/);
      // Reported, not changed.
      assert.equal(statSync(data).mode & 0o777, 0o755);
      assert.equal(statSync(path.join(data, 'master.key')).mode & 0o777, 0o644);
    } finally {
      await app.close();
      await mx.close();
      await apiStore.close();
      await mxStore.close();
      chmodSync(data, 0o700);
      chmodSync(path.join(data, 'master.key'), 0o600);
    }
  });

  test('another program on the ports, a newer database, a wrong key, a clock gone back, certificates', async () => {
    const data = base.SECUREMAIL_DATA_DIR!;
    const store = openStore({ sqlitePath: path.join(data, 'securemail.db') });
    const now = Date.now();
    try {
      await sql`insert into kysely_migration (name, timestamp) values ('9999_future', '2030-01-01')`.execute(
        store.db,
      );
      await insertTokenIssuedLater(store, now);
    } finally {
      await store.close();
    }
    const ca = await makeCa('Doctor Test Root');
    const both = await makeLeaf({ names: ['mx1.platform.test', 'mx2.platform.test'], issuer: ca });
    const other = await makeLeaf({ names: ['mx1.platform.test'], issuer: ca });
    const expired = await makeLeaf({ names: ['old.test'], issuer: ca, expired: true });
    const caFile = path.join(dir, 'ca.pem');
    writeFileSync(caFile, `${ca.pem}${expired.pem}`);
    const keyFile = path.join(dir, 'mx.key');
    writeFileSync(keyFile, other.keyPem, { mode: 0o644 });

    // Another program on each port: one that says nothing, one that greets like Postfix.
    const sockets: Socket[] = [];
    const busy = [
      createServer((socket) => sockets.push(socket)),
      createServer((socket) => socket.end('220 mail.example ESMTP Postfix\r\n')),
    ];
    const httpPort = await listen(busy[0]!);
    const mxPort = await listen(busy[1]!);
    dns.validating = false;
    try {
      const result = await cli(['doctor', '--json'], {
        ...base,
        SECUREMAIL_HTTP_PORT: String(httpPort),
        SECUREMAIL_MX_PORT: String(mxPort),
        SECUREMAIL_MASTER_KEY: randomBytes(32).toString('base64'),
        SECUREMAIL_CA_FILE: caFile,
        SECUREMAIL_MX_TLS_CERT: chainPem(both),
        SECUREMAIL_MX_TLS_KEY: keyFile,
      });
      assert.equal(result.code, 1, result.stderr);
      const report = JSON.parse(result.stdout) as Report;
      assert.deepEqual(of(report, 'dns-resolver'), [
        `warn ${dns.server} does NOT validate DNSSEC (no AD on the signed root); its AD bit is trusted`,
        'fail DANE is unavailable: no resolver both validates DNSSEC and is trusted for it; dane-only accounts defer every recipient',
      ]);
      assert.match(
        of(report, 'http-port')[0]!,
        /^fail 127\.0\.0\.1:\d+ is in use by another program$/,
      );
      assert.match(
        of(report, 'mx-port')[0]!,
        /^fail 127\.0\.0\.1:\d+ is in use by another program \(it says "220 mail\.example ESMTP Postfix"\)$/,
      );
      assert.deepEqual(of(report, 'mx-tls'), [
        'fail SECUREMAIL_MX_TLS_KEY is not the key of SECUREMAIL_MX_TLS_CERT',
        `warn ${keyFile} is readable by group or others (mode 644)`,
      ]);
      assert.match(
        of(report, 'database')[0]!,
        /^fail .* was migrated by a newer version \(9999_future unknown here\)$/,
      );
      assert.match(
        of(report, 'master-key').join('\n'),
        /fail the master key is NOT the one the database was set up with/,
      );
      assert.match(
        of(report, 'clock').join('\n'),
        /fail the database holds times up to .*, 3[56]\d\d s ahead of this clock/,
      );
      assert.match(
        of(report, 'ca-file')[0]!,
        /^warn .*ca\.pem: 1 of 2 certificates expired \(.*CN=old\.test/,
      );
    } finally {
      dns.validating = true;
      for (const socket of sockets) socket.destroy();
      for (const server of busy)
        await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('usage: no arguments, --help', async () => {
    const [extra, help] = await Promise.all([
      cli(['doctor', 'now'], base),
      cli(['doctor', '--help'], base),
    ]);
    assert.equal(extra.code, 2);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: securemail doctor \[--json\]/);
  });
});
