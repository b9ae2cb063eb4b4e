import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { AppError, ERROR_CODES, ERRORS, errorBody } from '../src/errors.ts';

test('every error code is documented in docs/errors.md with its status', () => {
  const doc = readFileSync(path.resolve(import.meta.dirname, '../docs/errors.md'), 'utf8');
  const documented = [...doc.matchAll(/^## (\S+)\n+(\d{3})\./gm)].map((m) => [m[1], Number(m[2])]);
  for (const code of ERROR_CODES) {
    const entry = documented.find(([name]) => name === code);
    assert.ok(entry, `${code} is not documented`);
    assert.equal(entry[1], ERRORS[code].status, `${code} documents the wrong status`);
  }
  for (const [name] of documented)
    assert.ok(ERROR_CODES.includes(name as never), `${name} is documented but not defined`);
});

test('the error body has the KPN shape', () => {
  const body = errorBody(
    new AppError('validation_failed', { field: 'domain', message: 'domain: bad' }),
    'tx-1',
  );
  assert.deepEqual(body, {
    transactionId: 'tx-1',
    status: 400,
    name: 'validation_failed',
    message: 'domain: bad',
    info: 'docs/errors.md#validation_failed',
    field: 'domain',
  });
});
