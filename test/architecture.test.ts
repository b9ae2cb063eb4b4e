// The module map of docs/architecture.md against the imports of src/: every import between
// modules is one the map allows, and no file imports itself through others (type imports
// count: they are dependencies too). A module is a folder under src/ or a file at its root.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const root = path.resolve(import.meta.dirname, '..');
const src = path.join(root, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : full.endsWith('.ts') ? [full] : [];
  });
}

// `import ... from './x.ts'`, `export ... from`, side-effect imports; relative ones only.
const IMPORT = /^\s*(?:import|export)\s(?:[^'";]*?\sfrom\s)?\s*['"](\.{1,2}\/[^'"]+)['"]/gm;

/** Each file of src/ (relative to src/) with the files it imports. */
const graph = new Map<string, string[]>(
  sources(src).map((file) => [
    path.relative(src, file),
    [...readFileSync(file, 'utf8').matchAll(IMPORT)].map((m) =>
      path.relative(src, path.resolve(path.dirname(file), m[1]!)),
    ),
  ]),
);

/** `store` for src/store/..., `config.ts` for src/config.ts. */
const moduleOf = (file: string) => (file.includes('/') ? file.split('/')[0]! : file);

/** Module -> what it may import, from the map's third column. */
function moduleMap(): Map<string, string[]> {
  const doc = readFileSync(path.join(root, 'docs', 'architecture.md'), 'utf8');
  const map = new Map<string, string[]>();
  for (const match of doc.matchAll(/^\| `src\/([^`]+?)\/?` \| [^|]+ \| ([^|]+) \|$/gm)) {
    map.set(
      match[1]!,
      [...match[2]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!),
    );
  }
  return map;
}

test('every import between modules is one the module map allows', () => {
  const map = moduleMap();
  assert.ok(map.size > 15, `read only ${map.size} rows of the module map`);
  const problems: string[] = [];
  for (const [file, imports] of graph) {
    const from = moduleOf(file);
    const allowed = map.get(from);
    if (allowed === undefined) {
      problems.push(`${from} (${file}) has no row in the module map`);
      continue;
    }
    for (const target of imports) {
      const to = moduleOf(target);
      // An entry is a module (any of its files) or one file (`accounts/settings.ts`).
      if (to !== from && !allowed.includes(to) && !allowed.includes(target)) {
        problems.push(
          `${file} imports ${target}: ${from} may import ${allowed.join(', ') || 'nothing'}`,
        );
      }
    }
  }
  assert.deepEqual(problems, []);
});

/** Store functions that change recipient or message rows: src/recipients alone calls them. */
const RECIPIENT_WRITERS = [
  'claimDue',
  'releaseLease',
  'takeBackWorker',
  'takeBackAllBut',
  'recordOutcomes',
  'completeIfFinal',
  'completeIfFinalMany',
  'insertMessageWithRecipients',
  'submitSingle',
  'insertMessageOnce',
  'setFinalAfterReport',
  'setRecipientDetail',
  'setMessageComplete',
  'deleteBodiesCompletedBefore',
  'deleteMessagesCompletedBefore',
  'deleteOrphanSessionEvidence',
  'deleteSubjectsCompletedBefore',
  'cancelUnleasedRecipients',
  'anonymiseRecipient',
  'rewriteAttempt',
  'rewriteMessage',
];

test('recipient rows are changed only through src/recipients', () => {
  const offenders: string[] = [];
  for (const file of graph.keys()) {
    const from = moduleOf(file);
    if (from === 'store' || from === 'recipients') continue;
    const text = readFileSync(path.join(src, file), 'utf8');
    for (const clause of text.matchAll(
      /^\s*import\s([^;]*?)\sfrom\s['"][^'"]*store\/[^'"]+['"]/gm,
    )) {
      for (const name of RECIPIENT_WRITERS) {
        if (new RegExp(`\\b${name}\\b`).test(clause[1]!)) offenders.push(`${file}: ${name}`);
      }
    }
  }
  assert.deepEqual(offenders, []);
});

test('no import cycles in src', () => {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open')
        cycles.push([...stack.slice(stack.indexOf(next)), next].join(' -> '));
      else if (!state.has(next) && graph.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  assert.ok(graph.size > 150, `read only ${graph.size} files`);
  assert.deepEqual(cycles, []);
});
