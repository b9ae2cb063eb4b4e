// Loads a DSN fixture and fills in the placeholders: {{RECIPIENT}} (the address we sent to)
// and {{VERP}} (the bounce address of that recipient). Line ends become CRLF, as on the wire.

import { readFileSync } from 'node:fs';
import path from 'node:path';

const DIR = path.join(import.meta.dirname, '..', 'fixtures', 'dsn');

export function fixture(name: string, values: { recipient: string; verp: string }): Buffer {
  const text = readFileSync(path.join(DIR, name), 'utf8')
    .replaceAll('{{RECIPIENT}}', values.recipient)
    .replaceAll('{{VERP}}', values.verp)
    .replace(/\r?\n/g, '\r\n');
  return Buffer.from(text, 'utf8');
}
