// The fault suite's registry against docs/reliability.md: every registered fault has a row
// in the fault table (`| \`name\` | what it does | what it checks |` under "The fault suite"),
// and fault names are unique and usable on the command line. So a fault cannot be added
// without saying what it does and checks.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { FAULTS } from '../../chaos/faults/index.ts';

const root = path.resolve(import.meta.dirname, '..', '..');

/** The fault names in the first column of docs/reliability.md's fault table. */
function documentedFaults(): string[] {
  const text = readFileSync(path.join(root, 'docs', 'reliability.md'), 'utf8');
  const start = text.indexOf('\n## The fault suite');
  assert.ok(start >= 0, 'docs/reliability.md has no "The fault suite" section');
  const end = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, end < 0 ? undefined : end);
  const names: string[] = [];
  for (const line of section.split('\n')) {
    const match = /^\| `([a-z][a-z0-9-]*)` \|/.exec(line);
    if (match !== null) names.push(match[1]!);
  }
  return names;
}

test('fault names are unique and fit the command line', () => {
  const names = FAULTS.map((f) => f.name);
  assert.ok(names.length >= 3, `only ${names.length} faults registered`);
  assert.equal(new Set(names).size, names.length, `a name registered twice: ${names.join(', ')}`);
  for (const name of names) assert.match(name, /^[a-z][a-z0-9-]*$/);
  for (const f of FAULTS) assert.ok(f.describe.length > 10, `${f.name} has no description`);
});

test('every registered fault has a row in docs/reliability.md', () => {
  const documented = new Set(documentedFaults());
  const missing = FAULTS.map((f) => f.name).filter((n) => !documented.has(n));
  assert.deepEqual(missing, [], 'faults without a row in the fault table of docs/reliability.md');
});

test('the fault table names each fault once', () => {
  const names = documentedFaults();
  assert.equal(new Set(names).size, names.length, `a fault documented twice: ${names.join(', ')}`);
});
