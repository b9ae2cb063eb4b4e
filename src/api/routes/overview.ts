// GET /stats: the overview of a tenant's sending over the last days, read-only: per UTC day
// how many attempts delivered, were refused as insecure, bounced or were deferred; how the
// delivered mail was authenticated (DANE, MTA-STS, PKIX) and over which TLS version; and the
// most frequent refusal reasons with the recipient domains behind them. Another tenant's
// domain is answered 404, as everywhere.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { requireOwnAccount } from '../../accounts/accounts-service.ts';
import { AppError } from '../../errors.ts';
import { summariseEvidence } from '../../evidence/summary.ts';
import { REPORTED_BOUNCE_REASON } from '../../recipients/reports.ts';
import type { Db, Store } from '../../store/database.ts';
import {
  attemptsPerDay,
  DAY_MS,
  deliveredSessions,
  laterBouncesPerDay,
  type OverviewScope,
  recipientsByStatus,
  refusalsByReason,
} from '../../store/overview.repository.ts';
import { errorResponses } from '../schemas.ts';
import { callerId } from './accounts.ts';
import { allReasons } from './reasons.ts';

export const MAX_STATS_DAYS = 90;
const DEFAULT_DAYS = 30;
const TOP_REASONS = 10;
const TOP_DOMAINS = 5;
/** Bounce reports (DSNs) arrive after delivery; those this much later still count. */
const LATE_BOUNCE_MS = 7 * DAY_MS;
const METHODS = ['dane', 'mta-sts', 'pkix'] as const;

/** What each attempt verdict counts as per day. */
const DAY_SERIES = {
  deliver: 'delivered',
  refuse: 'refused_insecure',
  bounce: 'bounced',
  defer: 'deferred',
  fail: 'failed',
} as const;
type Series = (typeof DAY_SERIES)[keyof typeof DAY_SERIES];
const SERIES: readonly Series[] = Object.values(DAY_SERIES);

export interface OverviewDeps {
  store: Store;
  now: () => number;
  /** The delivery retry window: how long before `from` a message with an attempt in range can be. */
  retryWindowMs: number;
  privateSuffixes: readonly string[];
}

const Counts = Type.Object(
  Object.fromEntries(SERIES.map((s) => [s, Type.Integer()])) as Record<
    Series,
    ReturnType<typeof Type.Integer>
  >,
);

const StatsSchema = Type.Object(
  {
    domain: Type.Union([Type.String(), Type.Null()]),
    from: Type.String({ format: 'date-time' }),
    to: Type.String({ format: 'date-time', description: 'Exclusive.' }),
    days: Type.Array(
      Type.Object({
        date: Type.String({ description: 'UTC day, YYYY-MM-DD.' }),
        ...Counts.properties,
      }),
      {
        description:
          'Per UTC day: attempts that delivered, were refused as insecure, bounced (including bounce reports received that day), were deferred, or failed.',
      },
    ),
    totals: Counts,
    authentication: Type.Array(Type.Object({ method: Type.String(), count: Type.Integer() }), {
      description: 'Delivered attempts by how the server was authenticated: dane, mta-sts, pkix.',
    }),
    tls_versions: Type.Array(Type.Object({ version: Type.String(), count: Type.Integer() }), {
      description: 'Delivered attempts by TLS version, most used first.',
    }),
    refusal_reasons: Type.Array(
      Type.Object({
        reason: Type.String(),
        explanation: Type.Union([Type.String(), Type.Null()]),
        count: Type.Integer(),
        domains: Type.Array(Type.Object({ domain: Type.String(), count: Type.Integer() })),
      }),
      {
        description: `The ${TOP_REASONS} most frequent refusal reasons, each with its top ${TOP_DOMAINS} recipient domains.`,
      },
    ),
    recipients_by_status: Type.Record(Type.String(), Type.Integer(), {
      description: 'Recipients of the messages accepted in the period, by their status now.',
    }),
  },
  { title: 'Stats' },
);

export function registerOverviewRoutes(app: FastifyInstance, deps: OverviewDeps): void {
  app.get<{ Querystring: { days?: string; domain?: string } }>(
    '/stats',
    {
      schema: {
        tags: ['Message'],
        summary:
          'Sending overview per day: delivered, refused, bounced, deferred; methods, TLS, refusal reasons',
        description:
          'The last `days` UTC days up to and including today, for all your domains or one. Read-only.',
        security: [{ oauth2: [] }],
        querystring: Type.Object(
          {
            days: Type.Optional(
              Type.String({
                pattern: '^[1-9][0-9]?$',
                description: `1 to ${MAX_STATS_DAYS}, default ${DEFAULT_DAYS}.`,
              }),
            ),
            domain: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: StatsSchema, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => {
      const clientId = callerId(request);
      const days = request.query.days === undefined ? DEFAULT_DAYS : Number(request.query.days);
      if (days > MAX_STATS_DAYS) {
        throw new AppError('validation_failed', {
          field: 'query.days',
          message: `query days: at most ${MAX_STATS_DAYS}`,
        });
      }
      let accountId: string | undefined;
      let domain: string | null = null;
      if (request.query.domain !== undefined) {
        const account = await requireOwnAccount(
          deps.store,
          clientId,
          request.query.domain,
          deps.privateSuffixes,
        );
        domain = account.domain;
        accountId = account.id;
      }
      const now = deps.now();
      const to = now - (now % DAY_MS) + DAY_MS;
      const from = to - days * DAY_MS;
      const scope: OverviewScope = {
        clientId,
        accountId,
        from,
        to,
        acceptedSince: from - deps.retryWindowMs - LATE_BOUNCE_MS,
      };
      const db = deps.store.db;

      const { days: perDay, totals } = await dailyCounts(db, scope);
      const delivered = await deliveredBreakdown(db, scope);
      const refusals = await topRefusalReasons(db, scope);

      const statuses: Record<string, number> = {};
      for (const row of await recipientsByStatus(db, scope)) statuses[row.status] = row.count;

      return {
        domain,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        days: perDay,
        totals,
        authentication: delivered.authentication,
        tls_versions: delivered.tlsVersions,
        refusal_reasons: refusals,
        recipients_by_status: statuses,
      };
    },
  );
}

function zeroCounts(): Record<Series, number> {
  return Object.fromEntries(SERIES.map((s) => [s, 0])) as Record<Series, number>;
}

/** Per UTC day of the scope, and in total: attempts by series, and bounces reported later. */
async function dailyCounts(db: Db, scope: OverviewScope) {
  const perDay = new Map<number, Record<Series, number>>();
  const firstDay = scope.from / DAY_MS;
  for (let d = firstDay; d < scope.to / DAY_MS; d++) perDay.set(d, zeroCounts());
  const totals = zeroCounts();
  const add = (day: number, series: Series, count: number) => {
    const entry = perDay.get(day);
    if (entry === undefined) return;
    entry[series] += count;
    totals[series] += count;
  };
  for (const row of await attemptsPerDay(db, scope)) {
    const series = DAY_SERIES[row.verdict as keyof typeof DAY_SERIES];
    if (series !== undefined) add(row.day, series, row.count);
  }
  for (const row of await laterBouncesPerDay(db, scope, REPORTED_BOUNCE_REASON)) {
    add(row.day, 'bounced', row.count);
  }
  const days = [...perDay].map(([day, counts]) => ({
    date: new Date(day * DAY_MS).toISOString().slice(0, 10),
    ...counts,
  }));
  return { days, totals };
}

/** Delivered recipients by how their server was authenticated and by TLS version. */
async function deliveredBreakdown(db: Db, scope: OverviewScope) {
  const methods = new Map<string, number>(METHODS.map((m) => [m, 0]));
  const versions = new Map<string, number>();
  for (const session of await deliveredSessions(db, scope)) {
    const summary = summariseEvidence(session.evidenceJson);
    const method = summary.authentication ?? 'unknown';
    methods.set(method, (methods.get(method) ?? 0) + session.count);
    const version = summary.tls_version ?? 'unknown';
    versions.set(version, (versions.get(version) ?? 0) + session.count);
  }
  return {
    authentication: [...methods].map(([method, count]) => ({ method, count })),
    tlsVersions: [...versions]
      .map(([version, count]) => ({ version, count }))
      .sort((a, b) => b.count - a.count),
  };
}

/** The most frequent refusal reasons, each with its most refused recipient domains. */
async function topRefusalReasons(db: Db, scope: OverviewScope) {
  const explanations = allReasons();
  const reasons = new Map<string, { count: number; domains: Map<string, number> }>();
  for (const row of await refusalsByReason(db, scope)) {
    const entry = reasons.get(row.reason) ?? { count: 0, domains: new Map() };
    entry.count += row.count;
    entry.domains.set(row.domain, (entry.domains.get(row.domain) ?? 0) + row.count);
    reasons.set(row.reason, entry);
  }
  return [...reasons]
    .sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0]))
    .slice(0, TOP_REASONS)
    .map(([reason, entry]) => ({
      reason,
      explanation: explanations[reason]?.explanation ?? null,
      count: entry.count,
      domains: [...entry.domains]
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .slice(0, TOP_DOMAINS)
        .map(([d, count]) => ({ domain: d, count })),
    }));
}
