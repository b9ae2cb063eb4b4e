// /message: submit a message for one or many recipients, and follow it per recipient.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { requireApexDomain } from '../../accounts/accounts-service.ts';
import { AppError } from '../../errors.ts';
import { attemptHistory } from '../../evidence/history.ts';
import { rawSubmission, type StructuredMessage } from '../../messages/compose.ts';
import { type SubmitDeps, type SubmitInput, submitMessage } from '../../messages/submit.ts';
import { openSubject } from '../../secrets/sealed-content.ts';
import {
  countStatuses,
  findMessage,
  listMessages,
  listRecipients,
} from '../../store/messages.repository.ts';
import { RECIPIENT_STATUSES, type RecipientStatus } from '../../vocabulary/recipient-statuses.ts';
import { parseQueryTime } from '../query-time.ts';
import { errorResponses } from '../schemas.ts';
import { callerId } from './accounts.ts';
import { structuredMessageFields } from './structured-message.ts';

const SECURITY = [{ oauth2: [] }];

const RecipientStatusSchema = Type.Union(RECIPIENT_STATUSES.map((s) => Type.Literal(s)));

/**
 * The body of POST /message. `maxItems` is the configured recipient limit, so an oversized
 * list is refused by the schema before any address is parsed: a 2,000,000-entry list took
 * 5 s of address checks on the event loop before (every other request waited).
 */
const submitBody = (maxRecipients: number) =>
  Type.Object(
    {
      sender: Type.String({
        minLength: 3,
        maxLength: 254,
        description: 'Envelope sender; its domain must be one of your valid accounts.',
      }),
      recipients: Type.Array(Type.String({ maxLength: 254 }), {
        minItems: 1,
        maxItems: maxRecipients,
        description: `Envelope recipients, at most ${maxRecipients} (duplicates count; they are collapsed).`,
      }),
      message: Type.Optional(
        Type.String({ description: 'The complete MIME message (JSON-escaped).' }),
      ),
      message_base64: Type.Optional(
        Type.String({ description: 'Alternative to message: the MIME message in base64.' }),
      ),
      // Or the message in parts, composed by the service (src/messages/compose.ts).
      ...structuredMessageFields,
    },
    { additionalProperties: false },
  );

const MAX_PAGE = 500;
const DEFAULT_PAGE = 100;

const AttemptSchema = Type.Object({
  started_at: Type.String({ format: 'date-time' }),
  ended_at: Type.String({ format: 'date-time' }),
  verdict: Type.String({ description: 'deliver, refuse, defer, bounce or fail.' }),
  reason: Type.Union([Type.String(), Type.Null()]),
  reply: Type.Union([Type.String(), Type.Null()], {
    description: "The remote server's reply, with its queue id.",
  }),
  evidence: Type.Object({
    mx_host: Type.Union([Type.String(), Type.Null()]),
    ip: Type.Union([Type.String(), Type.Null()]),
    authentication: Type.Union([Type.String(), Type.Null()], {
      description: 'dane, mta-sts or pkix.',
    }),
    tls_version: Type.Union([Type.String(), Type.Null()]),
    cipher: Type.Union([Type.String(), Type.Null()]),
    key_exchange: Type.Union([Type.String(), Type.Null()]),
    certificate_sha256: Type.Union([Type.String(), Type.Null()]),
    certificate_issuer: Type.Union([Type.String(), Type.Null()]),
    dnssec_mx: Type.Union([Type.String(), Type.Null()]),
    mta_sts: Type.Union([Type.String(), Type.Null()]),
    hosts_tried: Type.Array(Type.String()),
  }),
});

const SubmitResponseSchema = Type.Object({
  id: Type.String(),
  message_id: Type.String({ description: 'The Message-ID header, without angle brackets.' }),
  sender: Type.String(),
  recipients: Type.Array(Type.Object({ address: Type.String(), status: RecipientStatusSchema })),
});

const MessageStatusSchema = Type.Object({
  id: Type.String(),
  message_id: Type.String(),
  sender: Type.String(),
  subject: Type.Union([Type.String(), Type.Null()]),
  size: Type.Integer(),
  created_at: Type.String({ format: 'date-time' }),
  completed_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  recipients: Type.Array(
    Type.Object({
      address: Type.String(),
      status: RecipientStatusSchema,
      attempts: Type.Integer(),
      reason: Type.Union([Type.String(), Type.Null()]),
      detail: Type.Union([Type.String(), Type.Null()]),
      next_attempt_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
      updated_at: Type.String({ format: 'date-time' }),
      final_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
      history: Type.Array(AttemptSchema),
    }),
  ),
});

const MessageSummarySchema = Type.Object({
  id: Type.String(),
  message_id: Type.String(),
  sender: Type.String(),
  subject: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  completed_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  recipient_count: Type.Integer(),
  statuses: Type.Record(Type.String(), Type.Integer(), { description: 'Recipients per status.' }),
});

const ListQuery = Type.Object(
  {
    status: Type.Optional(RecipientStatusSchema),
    since: Type.Optional(
      Type.String({
        format: 'date-time',
        description: 'Only messages accepted at or after this time.',
      }),
    ),
    domain: Type.Optional(
      Type.String({ maxLength: 253, description: 'Only messages of this sending domain.' }),
    ),
    limit: Type.Optional(
      Type.String({
        pattern: '^[1-9][0-9]{0,2}$',
        description: `Page size, 1 to ${MAX_PAGE} (default ${DEFAULT_PAGE}).`,
      }),
    ),
    cursor: Type.Optional(
      Type.String({ maxLength: 200, description: 'next_cursor of the previous page.' }),
    ),
  },
  { additionalProperties: false },
);

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

type MessageRouteDeps = SubmitDeps & { privateSuffixes: readonly string[] };

interface ListQueryInput {
  status?: RecipientStatus;
  since?: string;
  domain?: string;
  limit?: string;
  cursor?: string;
}

export function registerMessageRoutes(app: FastifyInstance, deps: MessageRouteDeps): void {
  registerSubmit(app, deps);
  registerStatus(app, deps);
  registerList(app, deps);
}

function registerSubmit(app: FastifyInstance, deps: MessageRouteDeps): void {
  // JSON escaping or base64 makes the body larger than the message it carries.
  const bodyLimit = Math.ceil(deps.limits.maxMessageBytes * 2) + 1024 * 1024;

  app.post<{ Body: SubmitInput & StructuredMessage }>(
    '/message',
    {
      bodyLimit,
      schema: {
        tags: ['Message'],
        summary: 'Send a message to one or many recipients',
        description:
          '202 once the message and every recipient are stored. Each recipient is delivered only over an encrypted, ' +
          'authenticated connection; insecure recipients are refused and the account is notified. A repeated ' +
          'Message-ID with the same content answers the first response again (header idempotent-replay: true). ' +
          'Send the message as MIME (`message` or `message_base64`), or in parts (`subject`, `text`, `html`, ' +
          '`attachments`, `headers`) for the service to compose.',
        security: SECURITY,
        body: submitBody(deps.limits.maxRecipients),
        response: {
          202: SubmitResponseSchema,
          ...errorResponses(400, 401, 404, 409, 412, 413, 415, 429),
        },
      },
    },
    async (request, reply) => {
      const input = await rawSubmission(request.body, deps.now());
      const result = await submitMessage(deps, callerId(request), input);
      if (result.replay) reply.header('idempotent-replay', 'true');
      return reply.code(202).send(result.response);
    },
  );
}

function registerStatus(app: FastifyInstance, deps: MessageRouteDeps): void {
  app.get<{ Params: { id: string } }>(
    '/message/:id',
    {
      schema: {
        tags: ['Message'],
        summary: 'A message and the state of each recipient',
        security: SECURITY,
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        response: { 200: MessageStatusSchema, ...errorResponses(401, 404, 429) },
      },
    },
    (request) => messageStatus(deps, callerId(request), request.params.id),
  );
}

/** GET /message/{id}: the message, each recipient's state, and its attempts with evidence. */
async function messageStatus(deps: MessageRouteDeps, clientId: string, id: string) {
  const message = await findMessage(deps.store.db, clientId, id);
  if (message === undefined)
    throw new AppError('message_not_found', { message: `No message ${id}.` });
  const recipients = await listRecipients(deps.store.db, message.id);
  const history = await attemptHistory(
    deps.store.db,
    recipients.map((r) => r.id),
  );
  return {
    id: message.id,
    message_id: message.message_id_header,
    sender: message.sender,
    subject: openSubject(deps.masterKey, message.id, message.subject_sealed),
    size: message.size,
    created_at: new Date(message.created_at).toISOString(),
    completed_at: iso(message.completed_at),
    recipients: recipients.map((r) => ({
      address: r.address,
      status: r.status,
      attempts: r.attempts,
      reason: r.reason,
      detail: r.detail,
      next_attempt_at: r.final_at === null ? iso(r.next_attempt_at) : null,
      updated_at: new Date(r.updated_at).toISOString(),
      final_at: iso(r.final_at),
      history: history.get(r.id) ?? [],
    })),
  };
}

function registerList(app: FastifyInstance, deps: MessageRouteDeps): void {
  app.get<{ Querystring: ListQueryInput }>(
    '/messages',
    {
      schema: {
        tags: ['Message'],
        summary: 'List messages, newest first, with recipient counts per status',
        description:
          'Filter by a recipient status, a start time or a sending domain; page with next_cursor.',
        security: SECURITY,
        querystring: ListQuery,
        response: {
          200: Type.Object({
            messages: Type.Array(MessageSummarySchema),
            next_cursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errorResponses(400, 401, 429),
        },
      },
    },
    (request) => messagePage(deps, callerId(request), request.query),
  );
}

/** GET /messages: one page of the caller's messages, newest first, with status counts. */
async function messagePage(deps: MessageRouteDeps, clientId: string, query: ListQueryInput) {
  const limit = query.limit === undefined ? DEFAULT_PAGE : Number(query.limit);
  if (limit > MAX_PAGE) {
    throw new AppError('validation_failed', {
      field: 'query.limit',
      message: `query limit: at most ${MAX_PAGE}`,
    });
  }
  const before = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  const domain =
    query.domain === undefined
      ? undefined
      : requireApexDomain(query.domain, 'domain', deps.privateSuffixes);
  const rows = await listMessages(deps.store.db, {
    clientId,
    status: query.status,
    since: query.since === undefined ? undefined : parseQueryTime(query.since, 'since'),
    domain,
    before,
    limit: limit + 1,
  });
  const page = rows.slice(0, limit);
  const counts = await countStatuses(
    deps.store.db,
    page.map((m) => m.id),
  );
  const last = page.at(-1);
  return {
    messages: page.map((m) => ({
      id: m.id,
      message_id: m.message_id_header,
      sender: m.sender,
      subject: openSubject(deps.masterKey, m.id, m.subject_sealed),
      created_at: new Date(m.created_at).toISOString(),
      completed_at: iso(m.completed_at),
      recipient_count: m.recipient_count,
      statuses: counts.get(m.id) ?? {},
    })),
    next_cursor:
      rows.length > limit && last !== undefined ? encodeCursor(last.created_at, last.id) : null,
  };
}

function encodeCursor(createdAt: number, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: number; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [
      unknown,
      unknown,
    ];
    if (typeof createdAt === 'number' && typeof id === 'string') return { createdAt, id };
  } catch {
    // fall through to the error below
  }
  throw new AppError('validation_failed', {
    field: 'query.cursor',
    message: 'query cursor: not a cursor this API gave out',
  });
}
