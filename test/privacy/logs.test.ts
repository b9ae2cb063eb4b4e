// Logs at `info` carry no recipient addresses and no subjects (docs/privacy.md): a real
// delivery (submission over the API, the worker, a refusal and its notification, a data
// subject's access and erasure) is logged at info into memory, and the log is searched for
// every address and subject involved. At `debug` anything may appear, and start-up says so.

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { personalDataLogWarning } from '../../src/privacy/log-notice.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from '../delivery/support.ts';
import { dialects, type TestStore } from '../support/db.ts';

const dialect = dialects()[0]!;

describe('what the logs say at info', () => {
  let store: TestStore;
  let w: World;
  const lines: string[] = [];

  before(async () => {
    store = await dialect.open();
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    w = await startWorld(store, {}, { logger: pino({ level: 'info' }, sink) });
    await w.addMx('good.test', '127.0.0.1');
    await w.addMx('bad.test', '127.0.0.2', { insecure: true });
    await w.addMx('notify.test', '127.0.0.3');
  });
  after(async () => {
    await w.close();
    await store.close();
  });

  test('a real delivery, a refusal and a data subject request log ids, not addresses or subjects', async () => {
    const sent = await w.submit({
      sender: `news@${SENDER_DOMAIN}`,
      recipients: ['Marie.Jansen@good.test', 'piet.de.vries@bad.test'],
      message: mime({ To: 'Marie.Jansen@good.test', Subject: 'Secret plans for Marie' }),
    });
    assert.equal(sent.statusCode, 202);
    await w.drain();
    const access = await w.app.inject({
      method: 'GET',
      url: `/account/data-subject?domain=${SENDER_DOMAIN}&address=Marie.Jansen%40good.test`,
      headers: w.tenant.auth,
    });
    assert.equal(access.statusCode, 200);
    const erase = await w.app.inject({
      method: 'DELETE',
      url: `/account/data-subject?domain=${SENDER_DOMAIN}&address=piet.de.vries@bad.test`,
      headers: w.tenant.auth,
    });
    assert.equal(erase.statusCode, 200);

    const log = lines.join('');
    assert.ok(lines.length >= 6, 'requests were logged');
    assert.match(log, new RegExp(erase.json().erasure_id), 'ids are there instead');
    assert.match(log, /address=\[REDACTED\]/, 'the address in a query string is not logged');
    for (const secret of ['marie.jansen', 'piet.de.vries', 'ops@notify.test', 'Secret plans']) {
      assert.ok(!log.toLowerCase().includes(secret.toLowerCase()), `${secret} is not logged`);
    }
  });

  test('debug and trace say at start-up that the logs may hold personal data', () => {
    assert.match(personalDataLogWarning('debug') ?? '', /recipient addresses and message subjects/);
    assert.ok(personalDataLogWarning('trace'));
    for (const level of ['info', 'warn', 'error', 'fatal', 'silent']) {
      assert.equal(personalDataLogWarning(level), undefined, level);
    }
  });
});
