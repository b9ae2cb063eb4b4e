// The database-backed MTA-STS policy cache against the real, migrated store (SQLite always,
// PostgreSQL when configured), including a second connection pool as a second process.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createDatabaseStsPolicyCache, findStsPolicy } from '../../src/security/mta-sts-store.ts';
import { dialects } from '../support/db.ts';

for (const dialect of dialects()) {
  describe(`MTA-STS policy cache (${dialect.name})`, () => {
    test('stores, replaces and shares a policy between processes', async () => {
      const store = await dialect.open();
      try {
        const cache = createDatabaseStsPolicyCache(store.db);
        assert.equal(await cache.get('example.test'), undefined);
        const fetchedAt = new Date('2025-01-01T00:00:00.000Z');
        const expiresAt = new Date('2025-01-08T00:00:00.000Z');
        const policy = {
          id: 'abc1',
          mode: 'enforce' as const,
          mx: ['*.example.test'],
          maxAge: 604800,
        };
        await cache.put('Example.TEST', policy, fetchedAt, expiresAt);
        assert.deepEqual(await cache.get('example.test'), {
          domain: 'example.test',
          policy,
          fetchedAt,
          expiresAt,
        });
        const replaced = { ...policy, id: 'abc2', mode: 'testing' as const };
        await cache.put('example.test', replaced, expiresAt, new Date('2025-02-01T00:00:00.000Z'));
        const sibling = await store.openSibling();
        const seen = await findStsPolicy(sibling.db, 'example.test');
        assert.equal(seen?.policy.id, 'abc2');
        assert.equal(seen?.policy.mode, 'testing');
        assert.equal(seen?.fetchedAt.getTime(), expiresAt.getTime());
      } finally {
        await store.close();
      }
    });
  });
}
