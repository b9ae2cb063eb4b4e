// GET /account/webhook/deliveries: the account's most recent webhook events and how their
// delivery went (delivered, still pending with the next try, failed or dropped, with the
// last error), so an owner can see why an endpoint is not receiving.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../../errors.ts';
import { findAccount } from '../../store/accounts.repository.ts';
import type { Store } from '../../store/database.ts';
import { recentWebhookEvents } from '../../store/webhook-deliveries.repository.ts';
import { errorResponses } from '../schemas.ts';
import { callerId } from './accounts.ts';

const DEFAULT_PAGE = 50;
const MAX_PAGE = 200;

const IsoOrNull = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);

const DeliverySchema = Type.Object(
  {
    id: Type.String({ description: 'The event id (also the `id` of the posted body).' }),
    type: Type.String(),
    state: Type.Union(
      ['pending', 'delivered', 'failed', 'dropped'].map((s) => Type.Literal(s)),
      { description: 'pending: will be tried (again); failed: given up after the retry period.' },
    ),
    attempts: Type.Integer(),
    created_at: Type.String({ format: 'date-time' }),
    next_attempt_at: IsoOrNull,
    finished_at: IsoOrNull,
    last_error: Type.Union([Type.String(), Type.Null()]),
    data: Type.Record(Type.String(), Type.Union([Type.String(), Type.Null()]), {
      description: 'The event data that is posted (recipient, status, reason, ...).',
    }),
  },
  { title: 'WebhookDelivery' },
);

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function registerWebhookDeliveryRoutes(app: FastifyInstance, deps: { store: Store }): void {
  const db = deps.store.db;
  app.get<{ Querystring: { domain: string; limit?: string } }>(
    '/account/webhook/deliveries',
    {
      schema: {
        tags: ['Webhooks'],
        summary: 'Recent webhook events of an account and their delivery results, newest first',
        security: [{ oauth2: [] }],
        querystring: Type.Object(
          {
            domain: Type.String({ minLength: 1, maxLength: 253 }),
            limit: Type.Optional(
              Type.String({
                pattern: '^[1-9][0-9]{0,2}$',
                description: `1 to ${MAX_PAGE}, default ${DEFAULT_PAGE}`,
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ deliveries: Type.Array(DeliverySchema) }),
          ...errorResponses(400, 401, 404, 429),
        },
      },
    },
    async (request) => {
      const owner = await findAccount(
        deps.store.db,
        callerId(request),
        request.query.domain.toLowerCase(),
      );
      if (owner === undefined) throw new AppError('account_not_found', { field: 'query.domain' });
      const limit = request.query.limit === undefined ? DEFAULT_PAGE : Number(request.query.limit);
      if (limit > MAX_PAGE) {
        throw new AppError('validation_failed', {
          field: 'query.limit',
          message: `query limit: at most ${MAX_PAGE}`,
        });
      }
      const rows = await recentWebhookEvents(db, owner.id, limit);
      return {
        deliveries: rows.map((e) => ({
          id: e.id,
          type: e.type,
          state: e.state,
          attempts: e.attempts,
          created_at: new Date(e.created_at).toISOString(),
          next_attempt_at: e.state === 'pending' ? iso(e.next_attempt_at) : null,
          finished_at: iso(e.finished_at),
          last_error: e.last_error,
          data: payloadData(e.payload),
        })),
      };
    },
  );
}

function payloadData(payload: string): Record<string, string | null> {
  try {
    const parsed = JSON.parse(payload) as { data?: Record<string, string | null> };
    return parsed.data ?? {};
  } catch {
    return {};
  }
}
