// GET /account/evidence: every delivery attempt of an account in a time range, with its
// security evidence, as JSON (full records) or CSV (one summary line per attempt) — what a
// sender hands a data-protection auditor (GDPR art. 5(2) and 32). The records and both
// forms are src/evidence/export.ts's; this file is the HTTP side.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { requireOwnAccount } from '../../accounts/accounts-service.ts';
import {
  EVIDENCE_EXPORT_LIMIT,
  evidenceCsv,
  evidenceJsonText,
  listAccountEvidence,
} from '../../evidence/export.ts';
import type { Store } from '../../store/database.ts';
import { PERIOD_QUERY, queryPeriod } from '../query-time.ts';
import { errorResponses } from '../schemas.ts';
import { callerId } from './accounts.ts';

/** Rows per export; a larger range is split by the caller (the answer says so). */
export const MAX_EVIDENCE_ROWS = EVIDENCE_EXPORT_LIMIT;

const Query = Type.Object(
  {
    domain: Type.String({ minLength: 1, maxLength: 253 }),
    ...PERIOD_QUERY,
    format: Type.Optional(
      Type.Union([Type.Literal('json'), Type.Literal('csv')], { default: 'json' }),
    ),
  },
  { additionalProperties: false },
);

export function registerEvidenceRoutes(
  app: FastifyInstance,
  deps: { store: Store; now: () => number; privateSuffixes: readonly string[] },
): void {
  app.get<{ Querystring: { domain: string; from?: string; to?: string; format?: 'json' | 'csv' } }>(
    '/account/evidence',
    {
      schema: {
        tags: ['Account'],
        summary: 'Export the delivery evidence of an account (JSON or CSV)',
        description:
          'Every attempt in [from, to): recipient, MX host and IP, DNSSEC status, authentication method, TLS ' +
          `version, cipher, key exchange, certificate fingerprint, remote reply, verdict and reason. At most ${MAX_EVIDENCE_ROWS} rows; ` +
          'the header x-evidence-truncated says when the range holds more.',
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
        deps.privateSuffixes,
      );
      const { from, to } = queryPeriod(request.query, deps.now());
      const rows = await listAccountEvidence(
        deps.store.db,
        account.id,
        from,
        to,
        MAX_EVIDENCE_ROWS + 1,
      );
      const truncated = rows.length > MAX_EVIDENCE_ROWS;
      const page = rows.slice(0, MAX_EVIDENCE_ROWS);
      reply.header('x-evidence-truncated', String(truncated));
      const name = `evidence-${account.domain}-${new Date(from).toISOString().slice(0, 10)}`;
      if (request.query.format === 'csv') {
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${name}.csv"`)
          .send(evidenceCsv(page));
      }
      // As text in the pieces the auditor's report hashes (its evidence.sha256 is this body's).
      const text = evidenceJsonText;
      return reply.type('application/json; charset=utf-8').send(
        text.head({
          domain: account.domain,
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
          truncated,
        }) +
          page.map(text.record).join(text.separator) +
          text.tail,
      );
    },
  );
}
