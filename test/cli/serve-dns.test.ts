// What `securemail serve` tells an operator about DNS at start-up: whether the resolvers
// validate DNSSEC and are trusted for it (log and /readyz), and the outbound settings that
// widen what it may reach.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestDnsServer } from '../support/dns-server.ts';
import { MAIN } from './run.ts';

interface Served {
  url: string;
  logs: () => string;
  stop(): Promise<void>;
}

async function serve(env: Record<string, string>): Promise<Served> {
  const child: ChildProcess = spawn(process.execPath, [MAIN, 'serve', '--roles', 'api'], {
    env: {
      PATH: process.env.PATH ?? '',
      SECUREMAIL_HTTP_PORT: '0',
      SECUREMAIL_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const look = () => {
      const match = /"url":"(http:\/\/[^"]+)","docs"/.exec(buffer);
      if (match) resolve(match[1]!);
    };
    child.stdout?.on('data', look);
    child.once('exit', (code) => reject(new Error(`serve exited early with ${code}: ${buffer}`)));
  });
  return {
    url,
    logs: () => buffer,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

interface Readiness {
  dns: { dane_available: boolean | null; resolvers: { validates: boolean; trust_ad: boolean }[] };
  warnings: string[];
}

/** /readyz once the start-up probe has answered. */
async function readiness(url: string): Promise<Readiness> {
  for (let i = 0; i < 100; i++) {
    const body = (await (await fetch(`${url}/readyz`)).json()) as Readiness;
    if (body.dns.dane_available !== null) return body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the resolver probe never finished');
}

describe('serve: DNS at start-up', () => {
  let dir: string;
  let dns: TestDnsServer;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'securemail-serve-dns-'));
    dns = await TestDnsServer.start();
  });
  after(async () => {
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a validating resolver on loopback: DANE available, no warning', async () => {
    const served = await serve({ SECUREMAIL_DATA_DIR: dir, SECUREMAIL_DNS_SERVERS: dns.server });
    try {
      const ready = await readiness(served.url);
      assert.equal(ready.dns.dane_available, true);
      assert.deepEqual(
        ready.dns.resolvers.map((r) => [r.validates, r.trust_ad]),
        [[true, true]],
      );
      assert.deepEqual(ready.warnings, []);
      assert.ok(!/DANE is unavailable/.test(served.logs()));
    } finally {
      await served.stop();
    }
  });

  test('AD not trusted: a start-up warning, and /readyz says DANE is unavailable', async () => {
    const served = await serve({
      SECUREMAIL_DATA_DIR: dir,
      SECUREMAIL_DNS_SERVERS: dns.server,
      SECUREMAIL_DNS_TRUST_AD: 'never',
      SECUREMAIL_MX_ALLOW_NETWORKS: '10.0.0.0/8',
    });
    try {
      const ready = await readiness(served.url);
      assert.equal(ready.dns.dane_available, false);
      assert.ok(ready.warnings.some((w) => /AD bit is not trusted/.test(w)));
      assert.ok(ready.warnings.some((w) => /DANE is unavailable/.test(w)));
      for (let i = 0; i < 50 && !/DANE is unavailable/.test(served.logs()); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.match(served.logs(), /"level":40[^\n]*DANE is unavailable/);
      assert.match(served.logs(), /"level":40[^\n]*SECUREMAIL_MX_ALLOW_NETWORKS is set/);
    } finally {
      await served.stop();
    }
  });

  test('a resolver that does not validate is named in the warning', async () => {
    dns.validating = false;
    const served = await serve({ SECUREMAIL_DATA_DIR: dir, SECUREMAIL_DNS_SERVERS: dns.server });
    try {
      const ready = await readiness(served.url);
      assert.equal(ready.dns.dane_available, false);
      assert.ok(ready.warnings.some((w) => w.includes(`${dns.server} does NOT validate DNSSEC`)));
    } finally {
      dns.validating = true;
      await served.stop();
    }
  });
});
