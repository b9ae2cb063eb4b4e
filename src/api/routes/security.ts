// POST /security/check: the pre-flight check of recipients' mail servers, beyond the KPN
// surface. It connects, authenticates and QUITs; nothing is sent. Results are cached per
// domain and policy level for a short time, so a form that checks while a user types does
// not open a connection per keystroke.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { recipientDomain } from '../../accounts/email-address.ts';
import { AppError } from '../../errors.ts';
import type { DomainReport } from '../../security/check.ts';
import type { PolicyLevel } from '../../vocabulary/policy-levels.ts';
import { errorResponses, PolicyLevelSchema } from '../schemas.ts';

export const MAX_CHECK_INPUTS = 50;
const CACHE_LIMIT = 1000;

export interface SecurityCheckDeps {
  /** Runs the check for the given domains (the security engine's checkRecipients). */
  check: (domains: string[], level: PolicyLevel) => Promise<DomainReport[]>;
  cacheMs: number;
  now: () => number;
}

const CheckBody = Type.Object(
  {
    recipients: Type.Array(Type.String({ minLength: 1, maxLength: 254 }), {
      minItems: 1,
      maxItems: MAX_CHECK_INPUTS,
      description: 'Addresses or domains; each distinct domain is checked once.',
    }),
    policy_level: Type.Optional(PolicyLevelSchema),
  },
  { additionalProperties: false },
);

export function registerSecurityRoutes(app: FastifyInstance, deps: SecurityCheckDeps): void {
  const cache = new Map<string, { at: number; report: DomainReport }>();

  app.post<{ Body: { recipients: string[]; policy_level?: PolicyLevel } }>(
    '/security/check',
    {
      schema: {
        tags: ['Security'],
        summary: 'Check whether recipients can be reached securely (nothing is sent)',
        description:
          'Per recipient domain: the verdict (deliver/refuse/defer), the reason, the authentication method ' +
          '(dane/mta-sts/pkix), TLS version, cipher, certificate summary and per-host details. Results are cached briefly.',
        security: [{ oauth2: [] }],
        body: CheckBody,
        response: {
          200: Type.Object({ results: Type.Array(Type.Unknown()) }),
          ...errorResponses(400, 401, 429),
        },
      },
    },
    async (request) => {
      const level = request.body.policy_level ?? 'verified';
      const domains: string[] = [];
      const named = new Map<string, string[]>();
      request.body.recipients.forEach((input, i) => {
        const checked = recipientDomain(input);
        if (!checked.ok) {
          throw new AppError('validation_failed', {
            field: `recipients.${i}`,
            message: `recipients.${i}: ${checked.problem}`,
          });
        }
        const name = checked.domain;
        if (!named.has(name)) {
          named.set(name, []);
          domains.push(name);
        }
        named.get(name)!.push(input);
      });

      const now = deps.now();
      const fresh = new Map<string, DomainReport>();
      const missing: string[] = [];
      for (const domain of domains) {
        const hit = cache.get(`${level}\0${domain}`);
        if (hit !== undefined && now - hit.at < deps.cacheMs) fresh.set(domain, hit.report);
        else missing.push(domain);
      }
      if (missing.length > 0) {
        for (const report of await deps.check(missing, level)) {
          fresh.set(report.domain, report);
          cache.set(`${level}\0${report.domain}`, { at: now, report });
        }
        // Oldest first: Map keeps insertion order.
        while (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value!);
      }
      return {
        results: domains.map((domain) => {
          const report = fresh.get(domain)!;
          const { evidence, ...summary } = report;
          return { ...summary, recipients: named.get(domain), evidence };
        }),
      };
    },
  );
}
