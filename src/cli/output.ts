// How the operator commands print: readable tables by default, `--json` everywhere with the
// same keys (snake_case, times as ISO 8601 UTC). Kept in one place so that every command
// reads alike and a script can rely on the JSON of any of them.

import { UsageError } from './args.ts';

/** Columns padded to their widest cell; the last one is not padded (no trailing blanks). */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** Label/value lines, the labels padded: `state:     valid`. */
export function formatFields(fields: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  return fields
    .map(([label, value]) => `${`${label}:`.padEnd(width)} ${value}`.trimEnd())
    .join('\n');
}

/** Text cut to `max` characters, ending in `...` when cut (long values in a table). */
export function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Epoch milliseconds as ISO 8601 UTC; null stays null (JSON), or `-` in a table. */
export function iso(ms: number | null | undefined): string | null {
  return ms == null ? null : new Date(ms).toISOString();
}

export function isoOrDash(ms: number | null | undefined): string {
  return iso(ms) ?? '-';
}

/** How long ago (or from now), roughly, for a person: `3h12m ago`, `in 4m`. */
export function relative(ms: number, now: number): string {
  const seconds = Math.round(Math.abs(now - ms) / 1000);
  const span =
    seconds < 60
      ? `${seconds}s`
      : seconds < 3600
        ? `${Math.floor(seconds / 60)}m`
        : seconds < 86_400
          ? `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`
          : `${Math.floor(seconds / 86_400)}d${Math.floor((seconds % 86_400) / 3600)}h`;
  return ms <= now ? `${span} ago` : `in ${span}`;
}

/** `--limit`: a whole number from 1 to `max`, or the default. */
export function parseLimit(text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max)
    throw new UsageError(`--limit must be a whole number from 1 to ${max}`);
  return Number(text);
}

const UNITS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since`: an ISO 8601 time, or a span back from now (`30m`, `6h`, `2d`). */
export function parseSince(text: string | undefined, now: number): number | undefined {
  if (text === undefined) return undefined;
  const span = /^(\d+)([mhd])$/.exec(text);
  if (span) return now - Number(span[1]) * UNITS[span[2]!]!;
  const at = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(at))
    throw new UsageError(
      '--since must be an ISO time (2026-11-28T12:00:00Z) or a span (30m, 6h, 2d)',
    );
  return at;
}

/** One positional argument, else the usage line. */
export function onlyPositional(positionals: readonly string[], usage: string): string {
  if (positionals.length !== 1) throw new UsageError(`usage: securemail ${usage}`);
  return positionals[0]!;
}

/** No positional arguments where the command takes none. */
export function noPositionals(positionals: readonly string[], usage: string): void {
  if (positionals.length > 0)
    throw new UsageError(`unexpected argument "${positionals[0]}"; usage: securemail ${usage}`);
}
