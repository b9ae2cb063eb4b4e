// Fixed quota windows. Every process computes the same window from the clock alone, so
// processes share a counter row without talking to each other.

import type { QuotaTimeUnit } from './settings.ts';

export interface QuotaWindow {
  start: number;
  /** First millisecond of the next window. */
  end: number;
}

const UNIT_MS: Record<Exclude<QuotaTimeUnit, 'month'>, number> = {
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 7 * 86_400_000,
};

/**
 * Where windows are counted from: weeks start on Monday 00:00 UTC (ISO 8601), so they are
 * counted from Monday 5 January 1970; the epoch itself was a Thursday. Smaller units divide
 * a day, so the epoch serves them.
 */
const ORIGIN_MS: Partial<Record<QuotaTimeUnit, number>> = { week: 4 * 86_400_000 };

export function quotaWindow(now: number, interval: number, unit: QuotaTimeUnit): QuotaWindow {
  if (unit === 'month') {
    // Calendar months in UTC, counted from January 1970 so `interval` months line up.
    const date = new Date(now);
    const months = date.getUTCFullYear() * 12 + date.getUTCMonth() - 1970 * 12;
    const first = months - (months % interval);
    return { start: Date.UTC(1970, first, 1), end: Date.UTC(1970, first + interval, 1) };
  }
  const size = interval * UNIT_MS[unit];
  const origin = ORIGIN_MS[unit] ?? 0;
  const start = now - ((((now - origin) % size) + size) % size);
  return { start, end: start + size };
}
