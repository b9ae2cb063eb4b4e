// /message: submit a message for one or many recipients, and follow it per recipient.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../../errors.ts';
import { type SubmitDeps, type SubmitInput, submitMessage } from '../../messages/submit.ts';
import { findMessage, listRecipients } from '../../store/messages.repository.ts';
import { errorResponses } from '../schemas.ts';
import { callerId } from './accounts.ts';

const SECURITY = [{ oauth2: [] }];

const RecipientStatusSchema = Type.Union(
  [
    'queued',
    'deferred',
    'delivered',
    'refused_insecure',
    'bounced',
    'failed',
    'expired',
    'suppressed',
  ].map((s) => Type.Literal(s)),
);

const SubmitBody = Type.Object(
  {
    sender: Type.String({
      minLength: 3,
      maxLength: 254,
      description: 'Envelope sender; its domain must be one of your valid accounts.',
    }),
    recipients: Type.Array(Type.String({ maxLength: 254 }), {
      minItems: 1,
      description: 'Envelope recipients; duplicates are collapsed.',
    }),
    message: Type.Optional(
      Type.String({ description: 'The complete MIME message (JSON-escaped).' }),
    ),
    message_base64: Type.Optional(
      Type.String({ description: 'Alternative to message: the MIME message in base64.' }),
    ),
  },
  { additionalProperties: false },
);

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
    }),
  ),
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function registerMessageRoutes(app: FastifyInstance, deps: SubmitDeps): void {
  // JSON escaping or base64 makes the body larger than the message it carries.
  const bodyLimit = Math.ceil(deps.limits.maxMessageBytes * 2) + 1024 * 1024;

  app.post<{ Body: SubmitInput }>(
    '/message',
    {
      bodyLimit,
      schema: {
        tags: ['Message'],
        summary: 'Send a message to one or many recipients',
        description:
          '202 once the message and every recipient are stored. Each recipient is delivered only over an encrypted, ' +
          'authenticated connection; insecure recipients are refused and the account is notified. A repeated ' +
          'Message-ID with the same content answers the first response again (header idempotent-replay: true).',
        security: SECURITY,
        body: SubmitBody,
        response: {
          202: SubmitResponseSchema,
          ...errorResponses(400, 401, 404, 409, 412, 413, 415, 429),
        },
      },
    },
    async (request, reply) => {
      const result = await submitMessage(deps, callerId(request), request.body);
      if (result.replay) reply.header('idempotent-replay', 'true');
      return reply.code(202).send(result.response);
    },
  );

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
    async (request) => {
      const message = await findMessage(deps.store.db, callerId(request), request.params.id);
      if (message === undefined)
        throw new AppError('message_not_found', { message: `No message ${request.params.id}.` });
      const recipients = await listRecipients(deps.store.db, message.id);
      return {
        id: message.id,
        message_id: message.message_id_header,
        sender: message.sender,
        subject: message.subject,
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
        })),
      };
    },
  );
}
