// One service process per SQLite database: a second `serve` on the same file stops before it
// opens, migrates or takes back anything; the lock goes with its holder however that ends
// (stop, SIGKILL), so there is never a stale lock to remove by hand.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { lockSqliteDatabase, SqliteInUseError } from '../../src/store/sqlite-lock.ts';
import { cli, MAIN } from '../cli/run.ts';

const SRC_LOCK = path.resolve(import.meta.dirname, '../../src/store/sqlite-lock.ts');

/** Resolves once `child` has written `text` on stdout; rejects if it exits first. */
function untilSaid(child: ChildProcess, text: string): Promise<void> {
  let said = '';
  return new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      said += chunk.toString();
      if (said.includes(text)) resolve();
    });
    child.once('exit', (code) =>
      reject(new Error(`exited with ${code} before "${text}": ${said}`)),
    );
  });
}

/** A process that takes the lock, says so on stdout, and holds it until killed. */
async function holderProcess(database: string): Promise<ChildProcess> {
  const script =
    `const { lockSqliteDatabase } = await import(${JSON.stringify(SRC_LOCK)});` +
    `lockSqliteDatabase(${JSON.stringify(database)});` +
    `process.stdout.write('locked\\n'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await untilSaid(child, 'locked');
  return child;
}

/** `securemail serve` on `dataDir` until its API listens; returns the process. */
async function serving(dataDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [MAIN, 'serve', '--roles', 'api,worker'], {
    env: {
      PATH: process.env.PATH ?? '',
      SECUREMAIL_DATA_DIR: dataDir,
      SECUREMAIL_HTTP_PORT: '0',
      SECUREMAIL_DNS_SERVERS: '127.0.0.1:9',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await untilSaid(child, 'worker role: delivery started');
  return child;
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

describe('SQLite: one service process per database', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'securemail-sqlite-lock-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a second lock in the same process is refused until the first is released', () => {
    const database = path.join(dir, 'same-process', 'securemail.db');
    const first = lockSqliteDatabase(database);
    try {
      assert.throws(
        () => lockSqliteDatabase(database),
        (error: unknown) =>
          error instanceof SqliteInUseError &&
          error.lockFile === `${database}.lock` &&
          /in use by another SecureMail process/.test(error.message),
      );
      assert.equal(statSync(first.file).mode & 0o777, 0o600, 'the lock file is private');
    } finally {
      first.release();
    }
    first.release(); // twice is harmless
    lockSqliteDatabase(database).release();
    // Nothing was opened where the database would be: the lock lives beside it.
    assert.equal(existsSync(database), false);
  });

  test('a lock held by a process that was killed is free at once', async () => {
    const database = path.join(dir, 'killed', 'securemail.db');
    const holder = await holderProcess(database);
    try {
      assert.throws(() => lockSqliteDatabase(database), SqliteInUseError);
    } finally {
      await kill(holder, 'SIGKILL');
    }
    lockSqliteDatabase(database).release();
  });

  test('a second `serve` on the same data directory stops with a clear reason; the first goes on', async () => {
    const dataDir = path.join(dir, 'serve');
    const first = await serving(dataDir);
    try {
      const second = await cli(['serve'], {
        SECUREMAIL_DATA_DIR: dataDir,
        SECUREMAIL_HTTP_PORT: '0',
        SECUREMAIL_DNS_SERVERS: '127.0.0.1:9',
        SECUREMAIL_LOG_FORMAT: 'json',
      });
      assert.equal(second.code, 1, second.stdout + second.stderr);
      const said = second.stdout + second.stderr;
      assert.match(
        said,
        /the SQLite database .*securemail\.db is in use by another SecureMail process/,
      );
      assert.match(said, /SECUREMAIL_DATABASE_URL/);
      assert.doesNotMatch(
        said,
        /database migrated|starting/,
        'it stopped before opening the store',
      );
      assert.equal(first.exitCode, null, 'the first service still runs');
    } finally {
      await kill(first, 'SIGKILL');
    }
    // Killed, not stopped: the next start takes over without anyone removing a file.
    const next = await serving(dataDir);
    await kill(next, 'SIGTERM');
    assert.equal(next.exitCode, 0);
  });
});
