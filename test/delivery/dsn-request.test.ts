// Header-only bounces: bodies are sealed at rest, and a bounce that quoted the whole message
// would bring a clear copy back to the bounce MX (and through every relay on the way). When
// the verified server offers DSN (RFC 3461) we ask for headers only, RET=HDRS; a server
// without the extension gets no DSN parameter at all (RFC 3461 4: it would refuse MAIL).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dialects, type TestStore } from '../support/db.ts';
import type { TestSmtpServer } from '../support/smtp-server.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from './support.ts';

/** The MAIL FROM lines a server received over TLS. */
function mailLines(server: TestSmtpServer): string[] {
  return server.commands.filter((c) => /^tls: MAIL FROM:/i.test(c));
}

// The store only carries the queue here; one dialect is enough.
const dialect = dialects()[0]!;

describe(`MAIL FROM asks for header-only DSNs (${dialect.name})`, () => {
  let store: TestStore;
  let w: World;

  before(async () => {
    store = await dialect.open();
    w = await startWorld(store);
  });
  after(async () => {
    await w.close();
    await store.close();
  });

  test('RET=HDRS when the verified server offers DSN; no RET without it, or when offered only in clear', async () => {
    const dsn = await w.addMx('dsn.test', '127.0.0.1', { dsn: 'always' });
    const plain = await w.addMx('nodsn.test', '127.0.0.2');
    const clearOnly = await w.addMx('clear-dsn.test', '127.0.0.3', { dsn: 'before-tls' });
    const accepted = await w.submit({
      sender: `news@${SENDER_DOMAIN}`,
      recipients: ['a@dsn.test', 'b@nodsn.test', 'c@clear-dsn.test'],
      message: mime({}),
    });
    assert.equal(accepted.statusCode, 202, accepted.body);
    await w.drain();

    const [withDsn] = mailLines(dsn);
    assert.match(withDsn ?? '', /^tls: MAIL FROM:<bounce\+[0-9a-f-]{36}@bounce\.shop\.nl>( |$)/);
    assert.match(withDsn ?? '', / RET=HDRS( |$)/, withDsn);
    assert.equal(dsn.messages.length, 1);

    for (const server of [plain, clearOnly]) {
      const lines = mailLines(server);
      assert.equal(lines.length, 1, server.commands.join('\n'));
      assert.doesNotMatch(lines[0]!, /RET=|ENVID=/, 'no DSN parameter without the extension');
      assert.equal(server.messages.length, 1);
    }
  });
});
