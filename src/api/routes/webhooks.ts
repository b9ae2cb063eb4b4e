// /account/webhook: the HTTPS endpoint an account's events are posted to, signed with a
// secret that is shown once (on creation and on rotation).

import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../../errors.ts';
import type { WebhookConfig } from '../../notify/settings.ts';
import { openWebhookSecret, sealWebhookSecret } from '../../notify/webhook-secrets.ts';
import { newWebhookSecret } from '../../notify/webhook-signing.ts';
import {
  checkWebhookUrl,
  type HostLookup,
  MAX_WEBHOOK_URL_LENGTH,
  systemLookup,
} from '../../notify/webhook-target.ts';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../../outbox/webhook-events.ts';
import { findAccount } from '../../store/accounts.repository.ts';
import { inTransaction, type Store } from '../../store/database.ts';
import type { Account } from '../../store/schema.ts';
import {
  deleteWebhook,
  dropPendingEvents,
  findWebhook,
  insertWebhook,
  updateWebhook,
  type Webhook,
} from '../../store/webhooks.repository.ts';
import { DomainQuerySchema, errorResponses } from '../schemas.ts';
import { callerId } from './accounts.ts';

export interface WebhookRouteDeps {
  store: Store;
  masterKey: Buffer;
  config: WebhookConfig;
  now: () => number;
  /** How webhook host names are resolved for the SSRF check; default: the system resolver. */
  lookup?: HostLookup;
}

const SECURITY = [{ oauth2: [] }];
const HOUR_MS = 3_600_000;

const EventTypeSchema = Type.Union(
  WEBHOOK_EVENT_TYPES.map((t) => Type.Literal(t)),
  { description: 'A recipient status, or `domain_state_changed`.' },
);

const IsoOrNull = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);

const WebhookSchema = Type.Object(
  {
    url: Type.String(),
    events: Type.Array(EventTypeSchema),
    state: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
    last_success_at: IsoOrNull,
    failing_since: IsoOrNull,
    last_error: Type.Union([Type.String(), Type.Null()]),
    disabled_at: IsoOrNull,
    previous_secret_valid_until: IsoOrNull,
    secret: Type.Optional(
      Type.String({
        description:
          'The signing secret. Only in the answer that created or rotated it: store it now.',
      }),
    ),
  },
  { title: 'Webhook' },
);

const PutBodySchema = Type.Object(
  {
    url: Type.String({
      minLength: 9,
      maxLength: MAX_WEBHOOK_URL_LENGTH,
      description: 'https:// only',
    }),
    events: Type.Optional(
      Type.Array(EventTypeSchema, {
        minItems: 1,
        uniqueItems: true,
        description: 'Default: every event type.',
      }),
    ),
  },
  { additionalProperties: false },
);

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function view(row: Webhook, now: number, secret?: string) {
  return {
    url: row.url,
    events: JSON.parse(row.events) as WebhookEventType[],
    state: row.state,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
    last_success_at: iso(row.last_success_at),
    failing_since: iso(row.failing_since),
    last_error: row.last_error,
    disabled_at: iso(row.disabled_at),
    previous_secret_valid_until:
      row.previous_secret_until !== null && row.previous_secret_until > now
        ? iso(row.previous_secret_until)
        : null,
    ...(secret === undefined ? {} : { secret }),
  };
}

type DomainQuery = { Querystring: { domain: string } };
type PutBody = { url: string; events?: WebhookEventType[] };

export function registerWebhookRoutes(app: FastifyInstance, deps: WebhookRouteDeps): void {
  app.put<DomainQuery & { Body: PutBody }>(
    '/account/webhook',
    {
      schema: {
        tags: ['Webhooks'],
        summary: 'Register or change the webhook of an account',
        description:
          'Events are POSTed as JSON to the HTTPS URL, signed in the `SecureMail-Signature` ' +
          'header (see docs/bounces-and-webhooks.md). The first registration answers 201 with ' +
          'the secret, shown only then; later calls change URL and events (and re-enable a ' +
          'disabled webhook) and keep the secret. URLs that reach loopback, private or ' +
          'link-local addresses are refused.',
        security: SECURITY,
        querystring: DomainQuerySchema,
        body: PutBodySchema,
        response: {
          200: WebhookSchema,
          201: WebhookSchema,
          ...errorResponses(400, 401, 404, 413, 415, 429),
        },
      },
    },
    async (request, reply) => {
      const owner = await account(deps, callerId(request), request.query.domain);
      const { created, view } = await putWebhook(deps, owner, request.body);
      return reply.code(created ? 201 : 200).send(view);
    },
  );

  app.get<DomainQuery>(
    '/account/webhook',
    {
      schema: {
        tags: ['Webhooks'],
        summary: 'Get the webhook of an account and its delivery state',
        security: SECURITY,
        querystring: DomainQuerySchema,
        response: { 200: WebhookSchema, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => {
      const owner = await account(deps, callerId(request), request.query.domain);
      return view(await existing(deps, owner.id), deps.now());
    },
  );

  app.post<DomainQuery>(
    '/account/webhook/secret',
    {
      schema: {
        tags: ['Webhooks'],
        summary: 'Rotate the signing secret',
        description:
          'Answers with the new secret, shown only now. Until `previous_secret_valid_until` ' +
          'every delivery carries a signature with the new and one with the previous secret.',
        security: SECURITY,
        querystring: DomainQuerySchema,
        response: { 200: WebhookSchema, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => {
      const owner = await account(deps, callerId(request), request.query.domain);
      return rotateSecret(deps, owner);
    },
  );

  app.delete<DomainQuery>(
    '/account/webhook',
    {
      schema: {
        tags: ['Webhooks'],
        summary: 'Remove the webhook; pending events are dropped',
        security: SECURITY,
        querystring: DomainQuerySchema,
        response: {
          204: { type: 'null', description: 'Removed' },
          ...errorResponses(400, 401, 404, 429),
        },
      },
    },
    async (request, reply) => {
      const owner = await account(deps, callerId(request), request.query.domain);
      await existing(deps, owner.id);
      await inTransaction(deps.store.db, async (trx) => {
        await dropPendingEvents(trx, owner.id, deps.now(), 'webhook removed');
        await deleteWebhook(trx, owner.id);
      });
      return reply.code(204).send();
    },
  );
}

async function account(deps: WebhookRouteDeps, clientId: string, domain: string): Promise<Account> {
  const found = await findAccount(deps.store.db, clientId, domain.toLowerCase());
  if (found === undefined) throw new AppError('account_not_found', { field: 'query.domain' });
  return found;
}

async function existing(deps: WebhookRouteDeps, accountId: string): Promise<Webhook> {
  const found = await findWebhook(deps.store.db, accountId);
  if (found === undefined) {
    throw new AppError('webhook_not_found', {
      message: 'This account has no webhook; register one with PUT /account/webhook.',
    });
  }
  return found;
}

/**
 * PUT /account/webhook: a refused URL is a 400; an existing webhook gets the new URL and
 * events and is active again (its secret stays); otherwise one is made with a new secret,
 * shown in this answer only.
 */
async function putWebhook(
  deps: WebhookRouteDeps,
  owner: Account,
  body: PutBody,
): Promise<{ created: boolean; view: ReturnType<typeof view> }> {
  const db = deps.store.db;
  const check = await checkWebhookUrl(body.url, {
    allowPrivate: deps.config.allowPrivate,
    lookup: deps.lookup ?? systemLookup,
  });
  if (!check.ok) {
    throw new AppError('webhook_url_refused', {
      field: 'url',
      message: `url: ${check.problem}`,
    });
  }
  const events = JSON.stringify(body.events ?? WEBHOOK_EVENT_TYPES);
  const now = deps.now();
  const current = await findWebhook(db, owner.id);
  if (current !== undefined) {
    await updateWebhook(db, current.id, {
      url: body.url,
      events,
      state: 'active',
      disabled_at: null,
      failing_since: null,
      last_error: null,
      updated_at: now,
    });
    return { created: false, view: view(await existing(deps, owner.id), now) };
  }
  const id = randomUUID();
  const secret = newWebhookSecret();
  await insertWebhook(db, {
    id,
    account_id: owner.id,
    url: body.url,
    events,
    secret_sealed: sealWebhookSecret(deps.masterKey, id, 'current', secret),
    previous_secret_sealed: null,
    previous_secret_until: null,
    state: 'active',
    failing_since: null,
    last_error: null,
    last_success_at: null,
    disabled_at: null,
    created_at: now,
    updated_at: now,
  });
  return { created: true, view: view(await existing(deps, owner.id), now, secret) };
}

/** POST /account/webhook/secret: a new secret; the previous one signs on for the overlap. */
async function rotateSecret(deps: WebhookRouteDeps, owner: Account) {
  const current = await existing(deps, owner.id);
  const now = deps.now();
  const secret = newWebhookSecret();
  const previous = openWebhookSecret(deps.masterKey, current.id, 'current', current.secret_sealed);
  await updateWebhook(deps.store.db, current.id, {
    secret_sealed: sealWebhookSecret(deps.masterKey, current.id, 'current', secret),
    previous_secret_sealed: sealWebhookSecret(deps.masterKey, current.id, 'previous', previous),
    previous_secret_until: now + deps.config.secretOverlapHours * HOUR_MS,
    updated_at: now,
  });
  return view(await existing(deps, owner.id), now, secret);
}
