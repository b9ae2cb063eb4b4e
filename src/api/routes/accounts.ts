// /account: the sending domains of the calling tenant.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import {
  type AccountsDeps,
  type CreateAccountInput,
  createAccount,
  getAccount,
  removeAccount,
  rotateDkimKeys,
  type UpdateAccountInput,
  updateAccountSettings,
  verifyAccountNow,
} from '../../accounts/accounts-service.ts';
import { AppError } from '../../errors.ts';
import {
  AccountSchema,
  CreateAccountSchema,
  DomainQuerySchema,
  errorResponses,
  PolicyLevelSchema,
} from '../schemas.ts';

const SECURITY = [{ oauth2: [] }];

const IsoTimeOrNull = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);

/** The account as the shared schema describes it, plus when its records are checked. */
const AccountViewSchema = Type.Object(
  {
    ...AccountSchema.properties,
    verification: Type.Object({
      last_checked_at: IsoTimeOrNull,
      last_outcome: Type.Union([
        Type.Literal('valid'),
        Type.Literal('invalid'),
        Type.Literal('transient'),
        Type.Null(),
      ]),
      next_check_at: IsoTimeOrNull,
    }),
  },
  { title: 'Account' },
);

// No minProperties: an empty body is answered by the service with a message that says what
// is missing, not with the validator's generic one.
const UpdateAccountSchema = Type.Object(
  {
    policy_level: Type.Optional(PolicyLevelSchema),
    notification_email: Type.Optional(
      Type.String({
        minLength: 3,
        maxLength: 254,
        description: 'Where refusals and bounces are reported.',
      }),
    ),
  },
  { additionalProperties: false, description: 'The fields to change; at least one.' },
);

export function callerId(request: FastifyRequest): string {
  // The gate sets the caller before any route runs; its absence is a wiring bug.
  if (request.caller === undefined)
    throw new AppError('internal_error', { message: 'request has no caller' });
  return request.caller.clientId;
}

export function registerAccountRoutes(app: FastifyInstance, deps: AccountsDeps): void {
  app.post<{ Body: CreateAccountInput }>(
    '/account',
    {
      schema: {
        tags: ['Account'],
        summary: 'Create an account for a sending domain',
        description: 'Returns the account with the DNS records its owner must publish.',
        security: SECURITY,
        body: CreateAccountSchema,
        response: { 201: AccountViewSchema, ...errorResponses(400, 401, 409, 413, 415, 429) },
      },
    },
    async (request, reply) => {
      const view = await createAccount(deps, callerId(request), request.body);
      return reply.code(201).send(view);
    },
  );

  app.get<{ Querystring: { domain: string } }>(
    '/account',
    {
      schema: {
        tags: ['Account'],
        summary: 'Get an account, its state and its DNS records',
        security: SECURITY,
        querystring: DomainQuerySchema,
        response: { 200: AccountViewSchema, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => getAccount(deps, callerId(request), request.query.domain),
  );

  app.patch<{ Querystring: { domain: string }; Body: UpdateAccountInput }>(
    '/account',
    {
      schema: {
        tags: ['Account'],
        summary: 'Change the policy level or notification address of an account',
        description:
          'Send at least one of `policy_level` and `notification_email`. A new policy level ' +
          'applies to every later delivery attempt, including recipients already queued.',
        security: SECURITY,
        querystring: DomainQuerySchema,
        body: UpdateAccountSchema,
        response: { 200: AccountViewSchema, ...errorResponses(400, 401, 404, 415, 429) },
      },
    },
    async (request) =>
      updateAccountSettings(deps, callerId(request), request.query.domain, request.body),
  );

  app.post<{ Querystring: { domain: string } }>(
    '/account/verify',
    {
      schema: {
        tags: ['Account'],
        summary: 'Check the DNS records of an account now',
        description:
          'Looks up every record at once and answers with the account, its state and the status ' +
          'of each record (with what was found instead, and hints for common mistakes). A ' +
          'DNS timeout or SERVFAIL never changes the state.',
        security: SECURITY,
        querystring: DomainQuerySchema,
        response: { 200: AccountViewSchema, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => verifyAccountNow(deps, callerId(request), request.query.domain),
  );

  app.post<{ Querystring: { domain: string } }>(
    '/account/dkim/rotate',
    {
      schema: {
        tags: ['Account'],
        summary: 'Start a DKIM key rotation',
        description:
          'Makes new DKIM keys under new selectors and lists them as records to publish. Mail is ' +
          'signed with the current keys until the new records are found in DNS; then the old keys ' +
          'are retired and their records may be removed.',
        security: SECURITY,
        querystring: DomainQuerySchema,
        response: { 200: AccountViewSchema, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => rotateDkimKeys(deps, callerId(request), request.query.domain),
  );

  app.delete<{ Querystring: { domain: string } }>(
    '/account',
    {
      schema: {
        tags: ['Account'],
        summary: 'Delete an account',
        security: SECURITY,
        querystring: DomainQuerySchema,
        response: {
          204: { type: 'null', description: 'Deleted' },
          ...errorResponses(400, 401, 404, 429),
        },
      },
    },
    async (request, reply) => {
      await removeAccount(deps, callerId(request), request.query.domain);
      return reply.code(204).send();
    },
  );
}
