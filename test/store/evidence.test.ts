// joinEvidence: an attempt's own evidence and the session evidence it shares make one JSON
// object, the same text the worker wrote before evidence was shared.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { joinEvidence } from '../../src/store/messages.table.ts';

test('joinEvidence joins two JSON objects as text', () => {
  const own = JSON.stringify({ recipient: 'a@b.test', authentication: 'pkix' });
  const shared = JSON.stringify({ domain: { recipientDomain: 'b.test' }, hosts: [{ x: 1 }] });
  const joined = joinEvidence(own, shared);
  assert.deepEqual(JSON.parse(joined), { ...JSON.parse(own), ...JSON.parse(shared) });
  assert.equal(
    joined,
    '{"recipient":"a@b.test","authentication":"pkix","domain":{"recipientDomain":"b.test"},"hosts":[{"x":1}]}',
  );
});

test('joinEvidence: attempts written before shared evidence, and empty sides', () => {
  const full = '{"recipient":"a@b.test","hosts":[]}';
  assert.equal(joinEvidence(full, null), full);
  assert.equal(joinEvidence(full, undefined), full);
  assert.equal(joinEvidence('{}', '{"hosts":[]}'), '{"hosts":[]}');
  assert.equal(joinEvidence(full, '{}'), full);
});
