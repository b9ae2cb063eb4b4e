// GET /account/report: the auditor's report of one account for a period, as JSON, HTML (with
// SVG charts) or PDF. What it counts and how it stays traceable to the evidence export is
// src/privacy/report.ts's; this file is the HTTP side. Another tenant's domain is 404.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { requireOwnAccount } from '../../accounts/accounts-service.ts';
import { AppError } from '../../errors.ts';
import { buildReport, reportJson } from '../../privacy/report.ts';
import { reportHtml } from '../../privacy/report-html.ts';
import { reportPdf } from '../../privacy/report-pdf.ts';
import type { Store } from '../../store/database.ts';
import { PERIOD_QUERY, queryPeriod } from '../query-time.ts';
import { errorResponses } from '../schemas.ts';
import type { AppConfig } from '../settings.ts';
import { callerId } from './accounts.ts';

const DAY_MS = 86_400_000;
/** A report covers at most this long (a year and a leap day): beyond, ask for several. */
export const MAX_REPORT_DAYS = 366;

const Query = Type.Object(
  {
    domain: Type.String({ minLength: 1, maxLength: 253 }),
    ...PERIOD_QUERY,
    format: Type.Optional(
      Type.Union([Type.Literal('json'), Type.Literal('html'), Type.Literal('pdf')], {
        default: 'json',
      }),
    ),
  },
  { additionalProperties: false },
);

export function registerReportRoutes(
  app: FastifyInstance,
  deps: { store: Store; now: () => number; config: AppConfig },
): void {
  app.get<{
    Querystring: { domain: string; from?: string; to?: string; format?: 'json' | 'html' | 'pdf' };
  }>(
    '/account/report',
    {
      schema: {
        tags: ['Account'],
        summary: "The auditor's report of an account for a period (JSON, HTML or PDF)",
        description:
          'Messages and recipients, how delivered recipients were authenticated (DANE, MTA-STS, PKIX) and with ' +
          'which TLS versions, refusals per reason with the recipient domains, bounces, suppressions, erasures ' +
          'and the settings in force, with charts in HTML and PDF. Every attempt figure is counted from the ' +
          'evidence export of the same period; `evidence.sha256` is the SHA-256 of GET /account/evidence for ' +
          'it, and the HTML and PDF print the SHA-256 of this JSON. See docs/privacy.md.',
        security: [{ oauth2: [] }],
        querystring: Query,
        response: errorResponses(400, 401, 404, 429),
      },
    },
    async (request, reply) => {
      const account = await requireOwnAccount(
        deps.store,
        callerId(request),
        request.query.domain,
        deps.config.privateSuffixes,
      );
      const now = deps.now();
      const { from, to } = queryPeriod(request.query, now);
      if (to - from > MAX_REPORT_DAYS * DAY_MS)
        throw new AppError('validation_failed', {
          field: 'query.from',
          message: `query from: a report covers at most ${MAX_REPORT_DAYS} days`,
        });
      const { delivery, inbound, privacy } = deps.config;
      const report = await buildReport(
        { db: deps.store.db },
        account,
        { from, to },
        {
          bodyRetentionMs: delivery.bodyRetentionMs,
          subjectRetentionMs: delivery.subjectRetentionMs,
          evidenceRetentionMs: delivery.evidenceRetentionMs,
          retryWindowMs: delivery.retryWindowMs,
          inboundRetentionDays: inbound.retentionDays,
          webhookEventRetentionMs: privacy.webhookEventRetentionMs,
          noticeRetentionMs: privacy.noticeRetentionMs,
        },
      );
      const name = `report-${account.domain}-${new Date(from).toISOString().slice(0, 10)}`;
      const format = request.query.format ?? 'json';
      switch (format) {
        case 'json':
          return reply.type('application/json; charset=utf-8').send(reportJson(report));
        case 'html':
          return reply.type('text/html; charset=utf-8').send(reportHtml(report, new Date(now)));
        case 'pdf':
          return reply
            .type('application/pdf')
            .header('content-disposition', `attachment; filename="${name}.pdf"`)
            .send(await reportPdf(report, new Date(now)));
        default: {
          const never: never = format;
          throw new Error(`unknown format ${String(never)}`);
        }
      }
    },
  );
}
