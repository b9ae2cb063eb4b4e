// GET /accounts: the calling tenant's sending domains with their state, for a client (the
// console's domain list) that does not know its domains by heart. GET /account?domain= has
// the records of one.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { listAccounts } from '../../store/accounts.repository.ts';
import type { Store } from '../../store/database.ts';
import { errorResponses, PolicyLevelSchema } from '../schemas.ts';
import { callerId } from './accounts.ts';

const AccountSummarySchema = Type.Object(
  {
    domain: Type.String(),
    state: Type.Union([Type.Literal('unverified'), Type.Literal('valid'), Type.Literal('failed')]),
    policy_level: PolicyLevelSchema,
    notification_email: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
  },
  { title: 'AccountSummary' },
);

export function registerAccountListRoutes(app: FastifyInstance, deps: { store: Store }): void {
  app.get(
    '/accounts',
    {
      schema: {
        tags: ['Account'],
        summary: 'List your accounts (sending domains) with their state',
        security: [{ oauth2: [] }],
        response: {
          200: Type.Object({ accounts: Type.Array(AccountSummarySchema) }),
          ...errorResponses(401, 429),
        },
      },
    },
    async (request) => {
      const rows = await listAccounts(deps.store.db, callerId(request));
      return {
        accounts: rows.map((a) => ({
          domain: a.domain,
          state: a.state,
          policy_level: a.policy_level,
          notification_email: a.notification_email,
          created_at: new Date(a.created_at).toISOString(),
        })),
      };
    },
  );
}
