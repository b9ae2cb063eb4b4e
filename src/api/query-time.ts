// Times in query strings (`since`, `from`, `to`). The schema's `date-time` format follows
// RFC 3339, which allows a leap second (`23:59:60`); a JavaScript Date cannot hold one, so
// Date.parse answers NaN, and a NaN in a query is an empty list on SQLite and a 500 on
// PostgreSQL. Every time parameter goes through here and is refused with its field instead.

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
