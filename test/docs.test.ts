// The settings tables of the README and docs/ against the declarations in each module's
// settings.ts (composed by src/config.ts): every declared variable has a row, every row names
// a declared variable, each row shows the declared default, and the declared doc line opens
// one of the variable's rows. So the tables, the defaults and the code cannot drift apart.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { SETTING_DECLARATIONS } from '../src/config.ts';
import { type Setting, settingsOf } from '../src/settings.ts';

const root = path.resolve(import.meta.dirname, '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : full.endsWith('.ts') ? [full] : [];
  });
}

const declared = SETTING_DECLARATIONS.flatMap((group) => settingsOf(group));
const byVariable = new Map<string, Setting<unknown>>(declared.map((s) => [s.variable, s]));

interface Row {
  file: string;
  variable: string;
  shownDefault: string;
  meaning: string;
}

/** Rows of the settings tables: `| \`VAR\` | default | meaning |`, or `\`A\` / \`B\`` for two. */
function documentedRows(): Row[] {
  const files = [
    path.join(root, 'README.md'),
    ...readdirSync(path.join(root, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => path.join(root, 'docs', f)),
  ];
  const rows: Row[] = [];
  for (const file of files) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const match = /^\| (`[A-Z][A-Z0-9_]+`(?: \/ `[A-Z][A-Z0-9_]+`)*) \| ([^|]+) \| (.*) \|$/.exec(
        line,
      );
      if (match === null) continue;
      for (const name of match[1]!.matchAll(/`([A-Z0-9_]+)`/g)) {
        rows.push({
          file: path.relative(root, file),
          variable: name[1]!,
          shownDefault: match[2]!.trim(),
          meaning: match[3]!.trim(),
        });
      }
    }
  }
  return rows;
}

test('every setting is declared once', () => {
  assert.ok(declared.length > 60, `found only ${declared.length} settings: the walk is broken`);
  assert.equal(byVariable.size, declared.length, 'a variable declared twice');
});

test('every declared setting has a row in a settings table', () => {
  const documented = new Set(documentedRows().map((r) => r.variable));
  const missing = declared.map((s) => s.variable).filter((v) => !documented.has(v));
  assert.deepEqual(missing, [], 'settings without a row in a settings table');
});

test('every settings table row names a declared setting', () => {
  const unknown = documentedRows()
    .filter(
      (r) =>
        (r.variable.startsWith('SECUREMAIL_') || r.variable === 'DATABASE_URL') &&
        !byVariable.has(r.variable),
    )
    .map((r) => `${r.file}: ${r.variable}`);
  assert.deepEqual(unknown, [], 'rows for settings no module declares');
});

test('each row shows the declared default', () => {
  const wrong = documentedRows()
    .filter((r) => byVariable.has(r.variable))
    .filter((r) => !r.shownDefault.includes(byVariable.get(r.variable)!.shownDefault))
    .map(
      (r) =>
        `${r.file}: ${r.variable} shows "${r.shownDefault}", declared "${byVariable.get(r.variable)!.shownDefault}"`,
    );
  assert.deepEqual(wrong, []);
});

test('the declared doc line opens a row of its setting', () => {
  const rows = documentedRows();
  const unmatched = declared
    .filter((s) => !rows.some((r) => r.variable === s.variable && r.meaning.startsWith(s.doc)))
    .map((s) => `${s.variable}: "${s.doc}"`);
  assert.deepEqual(unmatched, []);
});

test('every variable named in the code is a declared setting', () => {
  const named = new Set<string>();
  for (const file of sources(path.join(root, 'src'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(
      /'((?:SECUREMAIL_[A-Z0-9_]+)|DATABASE_URL)'/g,
    )) {
      named.add(match[1]!);
    }
  }
  assert.ok(named.size > 40, `found only ${named.size} variables: the scan is broken`);
  assert.deepEqual(
    [...named].filter((v) => !byVariable.has(v)),
    [],
    'variables the code names that no module declares',
  );
});
