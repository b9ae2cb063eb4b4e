// Files at rest: the data directory is 0700, and the SQLite database, its WAL, shared memory
// and journal, and the master key are 0600, whatever umask the service was started with.
// Each case sets a permissive umask (node:test runs every file in a process of its own),
// opens the store as `serve` does, writes, and stats every file. SQLite only: with
// PostgreSQL the service keeps no database files of its own.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { sql } from 'kysely';
import pino, { type Logger } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { openReadyStore } from '../../src/service.ts';
import { openStore, type Store } from '../../src/store/database.ts';
import { getSetting, putSettingIfAbsent } from '../../src/store/settings.repository.ts';

const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function tempRoot(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'securemail-modes-'));
  roots.push(root);
  return root;
}

function mode(file: string): string {
  return (statSync(file).mode & 0o7777).toString(8);
}

/** Every file in `dir` with its permission bits, e.g. { 'securemail.db': '600' }. */
function modes(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).map((name) => [name, mode(path.join(dir, name))]));
}

/** A logger that keeps its warnings, to see what the service said about permissions. */
function capturingLogger(): { logger: Logger; warnings: Array<{ path?: string; msg: string }> } {
  const warnings: Array<{ path?: string; msg: string }> = [];
  const logger = pino(
    { level: 'warn' },
    {
      write(line: string) {
        const entry = JSON.parse(line) as { level: number; path?: string; msg: string };
        if (entry.level === 40) warnings.push(entry);
      },
    },
  );
  return { logger, warnings };
}

async function withUmask<T>(mask: number, work: () => Promise<T>): Promise<T> {
  const previous = process.umask(mask);
  try {
    return await work();
  } finally {
    process.umask(previous);
  }
}

/** A write and a read from a second connection, so that SQLite has made its WAL and -shm. */
async function writeAndRead(store: Store, sqlitePath: string): Promise<void> {
  await putSettingIfAbsent(store.db, `written-${randomBytes(4).toString('hex')}`, 'x');
  const sibling = openStore({ sqlitePath });
  try {
    assert.ok((await getSetting(sibling.db, 'master_key_check')) !== undefined);
  } finally {
    await sibling.close();
  }
}

describe('file modes of the data directory (sqlite)', () => {
  for (const mask of [0o000, 0o022]) {
    test(`umask ${mask.toString(8).padStart(3, '0')}: a new data directory is 0700; the database, its WAL and -shm and the master key 0600`, async () => {
      const dir = path.join(tempRoot(), 'nested', 'data');
      const config = loadConfig({ SECUREMAIL_DATA_DIR: dir });
      const { logger, warnings } = capturingLogger();
      await withUmask(mask, async () => {
        const { store } = await openReadyStore(config, logger);
        try {
          await writeAndRead(store, config.sqlitePath);
          assert.equal(mode(dir), '700');
          assert.deepEqual(modes(dir), {
            'master.key': '600',
            'securemail.db': '600',
            'securemail.db-shm': '600',
            'securemail.db-wal': '600',
          });
        } finally {
          await store.close();
        }
      });
      assert.deepEqual(
        warnings.filter((w) => w.path !== undefined),
        [],
        'nothing to tighten in what the service made itself',
      );
    });
  }

  test('an existing directory and files readable by others are tightened, with one warning each', async () => {
    const dir = path.join(tempRoot(), 'data');
    const config = loadConfig({ SECUREMAIL_DATA_DIR: dir });
    const db = config.sqlitePath;
    await withUmask(0o000, async () => {
      mkdirSync(dir, { mode: 0o755 });
      writeFileSync(path.join(dir, 'master.key'), `${randomBytes(32).toString('base64')}\n`, {
        mode: 0o644,
      });
      // What an older version, or a copy made with cp, leaves: files readable by everyone.
      // Empty files are a valid new database and an empty WAL.
      for (const name of ['', '-wal', '-shm', '-journal'])
        writeFileSync(`${db}${name}`, '', { mode: 0o644 });
      chmodSync(dir, 0o755);

      const first = capturingLogger();
      const { store } = await openReadyStore(config, first.logger);
      try {
        await writeAndRead(store, db);
        assert.equal(mode(dir), '700');
        for (const [name, bits] of Object.entries(modes(dir))) assert.equal(bits, '600', name);
      } finally {
        await store.close();
      }
      assert.deepEqual(
        first.warnings
          .filter((w) => w.path !== undefined)
          .map((w) => path.basename(w.path!))
          .sort(),
        [
          'data',
          'master.key',
          'securemail.db',
          'securemail.db-journal',
          'securemail.db-shm',
          'securemail.db-wal',
        ],
      );
      for (const w of first.warnings) assert.match(w.msg, /group|other/);

      const second = capturingLogger();
      const again = await openReadyStore(config, second.logger);
      await again.store.close();
      assert.deepEqual(
        second.warnings.filter((w) => w.path !== undefined),
        [],
        'said once: the next start finds them private',
      );
    });
  });

  test('a shared directory (sticky, like /tmp) is not changed, only warned about; the files in it are 0600', async () => {
    const shared = path.join(tempRoot(), 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const sqlitePath = path.join(shared, 'securemail.db');
    const warnings: Array<{ path: string; message: string }> = [];
    await withUmask(0o000, async () => {
      const store = openStore({
        sqlitePath,
        warn: (details, message) => warnings.push({ path: details.path, message }),
      });
      try {
        await sql`create table t (a integer)`.execute(store.db);
        await sql`insert into t values (1)`.execute(store.db);
        assert.equal(mode(shared), '1777');
        for (const [name, bits] of Object.entries(modes(shared))) assert.equal(bits, '600', name);
        assert.ok(existsSync(`${sqlitePath}-wal`));
      } finally {
        await store.close();
      }
    });
    assert.deepEqual(
      warnings.map((w) => w.path),
      [shared],
    );
    assert.match(warnings[0]!.message, /shared|sticky/);
  });
});
