// What `securemail serve` says at start with the defaults a new user starts with: that the
// records it would hand out name localhost (and which settings to set), and, once, why the
// bounce MX could not listen (a taken port is not a missing permission).

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { listenProblem } from '../../src/inbound/mx-server.ts';
import { MAIN } from './run.ts';

/** Runs serve until its API listens, then stops it; returns the JSON log lines. */
async function serveOnce(env: Record<string, string>): Promise<Array<Record<string, unknown>>> {
  const child: ChildProcess = spawn(process.execPath, [MAIN, 'serve'], {
    env: { PATH: process.env.PATH ?? '', SECUREMAIL_HTTP_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const look = () => {
        // The worker role starts after the api; its log line means every role has started.
        if (buffer.includes('worker role: delivery started') && buffer.includes('"mx role')) {
          resolve();
        }
      };
      child.stdout?.on('data', look);
      child.once('exit', (code) => reject(new Error(`serve exited early with ${code}: ${buffer}`)));
    });
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  }
  return buffer
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('serve with the defaults', () => {
  let dir: string;
  let taken: net.Server;
  let port: number;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'securemail-serve-defaults-'));
    taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    port = (taken.address() as net.AddressInfo).port;
  });
  after(async () => {
    await new Promise<void>((resolve) => taken.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('warns that the records would name localhost, and says once that the MX port is taken', async () => {
    const logs = await serveOnce({
      SECUREMAIL_DATA_DIR: path.join(dir, 'data'),
      SECUREMAIL_MX_HOST: '127.0.0.1',
      SECUREMAIL_MX_PORT: String(port),
      // A resolver nobody answers on, far from the test DNS: only the start-up probe asks it.
      SECUREMAIL_DNS_SERVERS: '127.0.0.1:9',
    });
    const names = logs.find((l) => String(l.msg).startsWith('not set up for the internet'));
    assert.ok(names, JSON.stringify(logs.map((l) => l.msg)));
    assert.equal(names.level, 40);
    assert.match(
      String(names.msg),
      /MX mx1\.localhost and mx2\.localhost and "v=spf1 a:localhost ~all"/,
    );
    assert.match(
      String(names.msg),
      /Set SECUREMAIL_HOSTNAME, SECUREMAIL_MX_HOSTS and SECUREMAIL_SPF_INCLUDE or SECUREMAIL_SPF_IPS/,
    );

    const mx = logs.filter((l) => /bounce MX/.test(String(l.msg)) && Number(l.level) >= 40);
    const cannot = mx.filter((l) => /cannot listen/.test(String(l.msg)));
    assert.equal(cannot.length, 1, JSON.stringify(mx));
    assert.equal(cannot[0]!.code, 'EADDRINUSE');
    assert.match(
      String(cannot[0]!.msg),
      new RegExp(`127\\.0\\.0\\.1:${port} is already in use by another process`),
    );
    assert.doesNotMatch(String(cannot[0]!.msg), /root|CAP_NET_BIND_SERVICE/);
    assert.equal(mx.filter((l) => /connection error/.test(String(l.msg))).length, 0);
  });

  test('a missing permission and a foreign address are told apart', () => {
    const error = (code: string) => Object.assign(new Error(code), { code });
    assert.match(
      listenProblem(error('EACCES'), '0.0.0.0', 25),
      /^no permission to listen on 0\.0\.0\.0:25: ports below 1024 need root or the CAP_NET_BIND_SERVICE/,
    );
    assert.match(
      listenProblem(error('EADDRNOTAVAIL'), '192.0.2.7', 25),
      /^192\.0\.2\.7 is not an address of this machine/,
    );
    assert.match(listenProblem(error('EADDRINUSE'), '::', 25), /^\[::\]:25 is already in use/);
  });
});
