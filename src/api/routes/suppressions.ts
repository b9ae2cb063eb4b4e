// /account/suppressions: the addresses an account does not send to any more. Hard bounces
// add themselves; the owner can list, add and remove entries.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { checkAddress } from '../../accounts/email-address.ts';
import { AppError } from '../../errors.ts';
import { addressDigest } from '../../secrets/keyed-digest.ts';
import { findAccount } from '../../store/accounts.repository.ts';
import type { Store } from '../../store/database.ts';
import type { Account } from '../../store/schema.ts';
import {
  deleteSuppression,
  findSuppression,
  insertSuppression,
  listSuppressions,
  type Suppression,
} from '../../store/suppressions.repository.ts';
import { errorResponses } from '../schemas.ts';
import { callerId } from './accounts.ts';

export interface SuppressionRouteDeps {
  store: Store;
  now: () => number;
  /** Finds an entry an erasure kept as the address's keyed digest (docs/privacy.md). */
  masterKey: Buffer;
}

const SECURITY = [{ oauth2: [] }];
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

const SuppressionSchema = Type.Object(
  {
    address: Type.String(),
    reason: Type.Union([Type.Literal('hard_bounce'), Type.Literal('manual')]),
    detail: Type.Union([Type.String(), Type.Null()]),
    created_at: Type.String({ format: 'date-time' }),
  },
  { title: 'Suppression' },
);

const ListQuerySchema = Type.Object(
  {
    domain: Type.String({ minLength: 1, maxLength: 253 }),
    limit: Type.Optional(
      Type.String({
        pattern: '^[0-9]{1,4}$',
        description: `1-${MAX_PAGE}, default ${DEFAULT_PAGE}`,
      }),
    ),
    after: Type.Optional(
      Type.String({ maxLength: 254, description: 'The last address of the previous page.' }),
    ),
  },
  { additionalProperties: false },
);

const AddressQuerySchema = Type.Object(
  {
    domain: Type.String({ minLength: 1, maxLength: 253 }),
    address: Type.String({ minLength: 3, maxLength: 254 }),
  },
  { additionalProperties: false },
);

const AddBodySchema = Type.Object(
  {
    address: Type.String({ minLength: 3, maxLength: 254 }),
    detail: Type.Optional(Type.String({ maxLength: 500, description: 'A note for yourself.' })),
  },
  { additionalProperties: false },
);

function view(row: Suppression) {
  return {
    address: row.address,
    reason: row.reason,
    detail: row.detail,
    created_at: new Date(row.created_at).toISOString(),
  };
}

async function account(
  deps: SuppressionRouteDeps,
  clientId: string,
  domain: string,
): Promise<Account> {
  const found = await findAccount(deps.store.db, clientId, domain.toLowerCase());
  if (found === undefined) throw new AppError('account_not_found', { field: 'query.domain' });
  return found;
}

function normalisedAddress(input: string, field: string): string {
  const check = checkAddress(input);
  if (!check.ok) throw new AppError('validation_failed', { field, message: check.problem });
  return check.address.toLowerCase();
}

export function registerSuppressionRoutes(app: FastifyInstance, deps: SuppressionRouteDeps): void {
  const db = deps.store.db;

  app.get<{ Querystring: { domain: string; limit?: string; after?: string } }>(
    '/account/suppressions',
    {
      schema: {
        tags: ['Suppressions'],
        summary: 'List the suppressed addresses of an account',
        description:
          'Addresses that hard-bounced (the address does not exist or is disabled) or that were ' +
          'added by hand. A message to them gets the status `suppressed` for that recipient ' +
          'instead of a delivery attempt. Paged in address order.',
        security: SECURITY,
        querystring: ListQuerySchema,
        response: {
          200: Type.Object({
            suppressions: Type.Array(SuppressionSchema),
            next_after: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errorResponses(400, 401, 404, 429),
        },
      },
    },
    async (request) => {
      const owner = await account(deps, callerId(request), request.query.domain);
      const limit = request.query.limit === undefined ? DEFAULT_PAGE : Number(request.query.limit);
      if (limit < 1 || limit > MAX_PAGE) {
        throw new AppError('validation_failed', {
          field: 'query.limit',
          message: `limit: must be between 1 and ${MAX_PAGE}`,
        });
      }
      const rows = await listSuppressions(db, owner.id, { limit, after: request.query.after });
      return {
        suppressions: rows.map(view),
        next_after: rows.length === limit ? (rows.at(-1)?.address ?? null) : null,
      };
    },
  );

  app.post<{ Querystring: { domain: string }; Body: { address: string; detail?: string } }>(
    '/account/suppressions',
    {
      schema: {
        tags: ['Suppressions'],
        summary: 'Suppress an address',
        description:
          'Answers 201 when added, 200 with the existing entry when it was listed already.',
        security: SECURITY,
        querystring: Type.Object(
          { domain: Type.String({ minLength: 1, maxLength: 253 }) },
          { additionalProperties: false },
        ),
        body: AddBodySchema,
        response: {
          200: SuppressionSchema,
          201: SuppressionSchema,
          ...errorResponses(400, 401, 404, 413, 415, 429),
        },
      },
    },
    async (request, reply) => {
      const owner = await account(deps, callerId(request), request.query.domain);
      const address = normalisedAddress(request.body.address, 'address');
      const added = await insertSuppression(db, {
        accountId: owner.id,
        address,
        reason: 'manual',
        detail: request.body.detail ?? null,
        recipientId: null,
        at: deps.now(),
      });
      const row = await findSuppression(db, owner.id, address);
      return reply.code(added ? 201 : 200).send(view(row!));
    },
  );

  app.delete<{ Querystring: { domain: string; address: string } }>(
    '/account/suppressions',
    {
      schema: {
        tags: ['Suppressions'],
        summary: 'Remove an address from the suppression list',
        description:
          'New messages to the address are delivered again. Also removes the entry an erasure of the address kept as a keyed digest.',
        security: SECURITY,
        querystring: AddressQuerySchema,
        response: {
          204: { type: 'null', description: 'Removed' },
          ...errorResponses(400, 401, 404, 429),
        },
      },
    },
    async (request, reply) => {
      const owner = await account(deps, callerId(request), request.query.domain);
      const address = normalisedAddress(request.query.address, 'query.address');
      const digest = addressDigest(deps.masterKey, owner.id, address);
      if (!(await deleteSuppression(db, owner.id, address, digest))) {
        throw new AppError('suppression_not_found', {
          field: 'query.address',
          message: 'This address is not on the suppression list.',
        });
      }
      return reply.code(204).send();
    },
  );
}
