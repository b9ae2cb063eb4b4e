// GET and DELETE /account/data-subject: a data subject's rights of access (GDPR art. 15) and
// erasure (art. 17) for one address within one of the caller's accounts. What is found and
// what an erasure does is src/privacy's; this file is the HTTP side. Another tenant's domain
// is 404, as everywhere, and only the account's own rows are read or changed.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { requireOwnAccount } from '../../accounts/accounts-service.ts';
import { dataSubjectAccess } from '../../privacy/access.ts';
import { subjectAddress } from '../../privacy/address.ts';
import { API_ERASURE_WAIT_MS, eraseDataSubject } from '../../privacy/erasure.ts';
import type { Store } from '../../store/database.ts';
import type { Account } from '../../store/schema.ts';
import { errorResponses } from '../schemas.ts';
import { callerId } from './accounts.ts';

export interface DataSubjectRouteDeps {
  store: Store;
  masterKey: Buffer;
  now: () => number;
  privateSuffixes: readonly string[];
  /** How long an erasure waits for a recipient being delivered right now (tests shorten it). */
  erasureWaitMs?: number;
}

const Query = Type.Object(
  {
    domain: Type.String({ minLength: 1, maxLength: 253, description: 'Your sending domain.' }),
    address: Type.String({
      minLength: 3,
      maxLength: 254,
      description:
        "The data subject's e-mail address; compared without regard to case (docs/privacy.md).",
    }),
  },
  { additionalProperties: false },
);

const Counts = Type.Object({
  recipients: Type.Integer({ description: 'Recipient rows anonymised (state kept).' }),
  attempts: Type.Integer({ description: 'Attempts whose reply and evidence were anonymised.' }),
  messages: Type.Integer({
    description: 'Messages rewritten: sender, subject, body, stored answer, content hash.',
  }),
  webhook_events: Type.Integer({ description: 'Webhook events deleted.' }),
  inbound_messages: Type.Integer({ description: 'Received bounces and replies deleted.' }),
  account_notices: Type.Integer({ description: 'Account notices deleted.' }),
  suppressions: Type.Integer({ description: 'Suppression entries replaced by a keyed digest.' }),
});

const ErasureSchema = Type.Object(
  {
    erasure_id: Type.String({ description: 'The record of this erasure (it holds no address).' }),
    erased_at: Type.String({ format: 'date-time' }),
    cancelled: Type.Integer({ description: 'Recipients that were still waiting, now never sent.' }),
    rows: Counts,
    still_suppressed: Type.Boolean({
      description: 'The address stays on the suppression list as a keyed digest.',
    }),
    notification_address_kept: Type.Boolean({
      description:
        "The address is this account's notification address, which stays until changed with PATCH /account.",
    }),
  },
  { title: 'Erasure' },
);

export function registerDataSubjectRoutes(app: FastifyInstance, deps: DataSubjectRouteDeps): void {
  const account = (clientId: string, domainInput: string): Promise<Account> =>
    requireOwnAccount(deps.store, clientId, domainInput, deps.privateSuffixes);

  app.get<{ Querystring: { domain: string; address: string } }>(
    '/account/data-subject',
    {
      schema: {
        tags: ['Privacy'],
        summary: 'Everything held about one e-mail address (GDPR art. 15)',
        description:
          'Messages to, from or naming the address (subject and body while still kept), each recipient state ' +
          'with its attempts and whole evidence, suppression entries, bounces received, webhook events and ' +
          'account notices, as JSON. Read-only. See docs/privacy.md.',
        security: [{ oauth2: [] }],
        querystring: Query,
        response: errorResponses(400, 401, 404, 429),
      },
    },
    async (request, reply) => {
      const owner = await account(callerId(request), request.query.domain);
      const address = subjectAddress(request.query.address, 'query.address');
      const answer = await dataSubjectAccess(
        { db: deps.store.db, masterKey: deps.masterKey, now: deps.now },
        owner,
        address,
      );
      // Ids, never the address (docs/privacy.md: logs at info carry no addresses).
      request.log.info(
        { account: owner.id, messages: answer.messages.length },
        'data subject access answered',
      );
      return reply.type('application/json; charset=utf-8').send(answer);
    },
  );

  app.delete<{ Querystring: { domain: string; address: string } }>(
    '/account/data-subject',
    {
      schema: {
        tags: ['Privacy'],
        summary: 'Erase everything held about one e-mail address (GDPR art. 17)',
        description:
          'Cancels what is still queued for or about the address, then removes or irreversibly anonymises ' +
          "it in every table: recipients and evidence keep their state and the receiving server's evidence " +
          'without the address; subjects, bodies, kept bounces, webhook events and notices about it go. A ' +
          'suppressed address stays suppressed as a keyed digest. The erasure is recorded without the ' +
          'address. 409 delivery_in_progress while a worker is sending to it: ask again after Retry-After.',
        security: [{ oauth2: [] }],
        querystring: Query,
        response: { 200: ErasureSchema, ...errorResponses(400, 401, 404, 409, 429) },
      },
    },
    async (request) => {
      const clientId = callerId(request);
      const owner = await account(clientId, request.query.domain);
      const address = subjectAddress(request.query.address, 'query.address');
      const result = await eraseDataSubject(
        {
          db: deps.store.db,
          masterKey: deps.masterKey,
          now: deps.now,
          maxWaitMs: deps.erasureWaitMs ?? API_ERASURE_WAIT_MS,
        },
        { account: owner, address, clientId, via: 'api' },
      );
      request.log.info(
        { account: owner.id, erasure: result.id, cancelled: result.cancelled, rows: result.counts },
        'data subject erased',
      );
      return {
        erasure_id: result.id,
        erased_at: new Date(result.erased_at).toISOString(),
        cancelled: result.cancelled,
        rows: {
          recipients: result.counts.recipients,
          attempts: result.counts.attempts,
          messages: result.counts.messages,
          webhook_events: result.counts.webhook_events,
          inbound_messages: result.counts.inbound_messages,
          account_notices: result.counts.account_notifications,
          suppressions: result.counts.suppressions,
        },
        still_suppressed: result.still_suppressed,
        notification_address_kept: result.notification_address_kept,
      };
    },
  );
}
