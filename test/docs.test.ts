import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const root = path.resolve(import.meta.dirname, '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : full.endsWith('.ts') ? [full] : [];
  });
}

test('every environment variable the code reads is documented with its default', () => {
  const used = new Set<string>();
  for (const file of sources(path.join(root, 'src'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(
      /'((?:SECUREMAIL_[A-Z0-9_]+)|DATABASE_URL)'/g,
    )) {
      used.add(match[1]!);
    }
  }
  const docs = [
    readFileSync(path.join(root, 'README.md'), 'utf8'),
    ...readdirSync(path.join(root, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => readFileSync(path.join(root, 'docs', f), 'utf8')),
  ].join('\n');
  assert.ok(used.size > 40, `found only ${used.size} variables: the scan is broken`);
  // A row starts with the variable, or names it after a slash (`A` / `B`).
  const missing = [...used].filter(
    (name) => !docs.includes(`| \`${name}\``) && !docs.includes(`/ \`${name}\``),
  );
  assert.deepEqual(missing, [], 'variables without a row in a settings table');
});
