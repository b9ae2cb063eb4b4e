// Times in query strings (`since`, `from`, `to`). The schema's `date-time` format follows
// RFC 3339, which allows a leap second (`23:59:60`); a JavaScript Date cannot hold one, so
// Date.parse answers NaN, and a NaN in a query is an empty list on SQLite and a 500 on
// PostgreSQL. Every time parameter goes through here and is refused with its field instead.

import { Type } from 'typebox';
import { AppError } from '../errors.ts';

/** Epoch milliseconds of a `date-time` query value, or 400 naming `query.<name>`. */
export function parseQueryTime(text: string, name: string): number {
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) {
    throw new AppError('validation_failed', {
      field: `query.${name}`,
      message: `query ${name}: "${text}" is not a time that can be used (a leap second :60 cannot be; use :59)`,
    });
  }
  return ms;
}

const DAY_MS = 86_400_000;

/** The `from` and `to` of a period query (evidence export, report), as the schema shows them. */
export const PERIOD_QUERY = {
  from: Type.Optional(
    Type.String({ format: 'date-time', description: 'Default: 30 days before `to`.' }),
  ),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'Exclusive; default: now.' })),
};

/**
 * The period [from, to) a query asks for. `to` defaults to now and is exclusive, so by default
 * it includes this very millisecond; `from` defaults to 30 days before `to` and must be before it.
 */
export function queryPeriod(
  query: { from?: string | undefined; to?: string | undefined },
  now: number,
): { from: number; to: number } {
  const to = query.to === undefined ? now + 1 : parseQueryTime(query.to, 'to');
  const from = query.from === undefined ? to - 30 * DAY_MS : parseQueryTime(query.from, 'from');
  if (from >= to)
    throw new AppError('validation_failed', {
      field: 'query.from',
      message: 'query from: must be before to',
    });
  return { from, to };
}
