// docs/security.md is the user's reference for reason codes and settings: every code the
// engine can give must be documented there, with its verdict, so code and docs cannot drift.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { POLICY_LEVELS, REASONS, type ReasonCode } from '../../src/security/index.ts';

const DOC = readFileSync(path.resolve(import.meta.dirname, '../../docs/security.md'), 'utf8');

/** The rows of the reason table: `| \`code\` | verdict | ...`. */
function documentedReasons(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const match of DOC.matchAll(/^\| `([a-z0-9-]+)` \| (refuse|defer) \|/gm))
    rows.set(match[1]!, match[2]!);
  return rows;
}

test('every ReasonCode has a row in docs/security.md with its verdict', () => {
  const rows = documentedReasons();
  for (const [code, info] of Object.entries(REASONS) as Array<[ReasonCode, { class: string }]>) {
    assert.ok(rows.has(code), `docs/security.md has no row for reason ${code}`);
    assert.equal(rows.get(code), info.class, `the verdict of ${code} in docs/security.md`);
  }
});

test('docs/security.md documents no reason code that does not exist', () => {
  for (const code of documentedReasons().keys())
    assert.ok(code in REASONS, `docs/security.md documents unknown reason ${code}`);
});

test('docs/security.md names every policy level and the outbound settings', () => {
  for (const level of POLICY_LEVELS) assert.ok(DOC.includes(`\`${level}\``), level);
  for (const variable of [
    'SECUREMAIL_SMTP_PORT',
    'SECUREMAIL_CA_FILE',
    'SECUREMAIL_SMTP_CONNECT_TIMEOUT_MS',
    'SECUREMAIL_SMTP_COMMAND_TIMEOUT_MS',
    'SECUREMAIL_MTA_STS_PORT',
    'SECUREMAIL_CHECK_CACHE_SECONDS',
    'SECUREMAIL_DNS_SERVERS',
  ])
    assert.match(DOC, new RegExp(`^\\| \`${variable}\` \\|`, 'm'), variable);
});
