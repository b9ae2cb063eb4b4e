// /account: the sending domains of the calling tenant.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  type AccountsDeps,
  type CreateAccountInput,
  createAccount,
  getAccount,
  removeAccount,
} from '../../accounts/accounts-service.ts';
import { AppError } from '../../errors.ts';
import {
  AccountSchema,
  CreateAccountSchema,
  DomainQuerySchema,
  errorResponses,
} from '../schemas.ts';

const SECURITY = [{ oauth2: [] }];

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
        response: { 201: AccountSchema, ...errorResponses(400, 401, 409, 413, 415, 429) },
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
        response: { 200: AccountSchema, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => getAccount(deps, callerId(request), request.query.domain),
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
