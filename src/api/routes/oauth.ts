// POST /oauth/client_credential/accesstoken — the KPN API Store token endpoint (RFC 6749
// section 4.4, client credentials). Credentials come in the form body or as HTTP Basic.
// Failed attempts are limited per client id and per address before any secret is checked
// (token-guard.ts), and the secret checks themselves wait in a short queue (hash-queue.ts).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import {
  type ClientCredentials,
  type IssuedToken,
  issueToken,
  type SecretVerifier,
} from '../../clients/clients-service.ts';
import { AppError } from '../../errors.ts';
import { HashQueue, HashQueueFull } from '../../secrets/hash-queue.ts';
import { verifySecret } from '../../secrets/secret-hash.ts';
import type { Store } from '../../store/database.ts';
import { errorResponses, TokenResponseSchema } from '../schemas.ts';
import type { AppConfig } from '../settings.ts';
import { type AttemptOutcome, TokenGuard } from '../token-guard.ts';

export const TOKEN_PATH = '/oauth/client_credential/accesstoken';
const GRANT = 'client_credentials';
// As the form fields: longer HTTP Basic values are refused before they are counted or checked.
const MAX_CREDENTIAL = 256;

const TokenBody = Type.Object(
  {
    grant_type: Type.Optional(Type.String()),
    client_id: Type.Optional(Type.String({ maxLength: 256 })),
    client_secret: Type.Optional(Type.String({ maxLength: 256 })),
    scope: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  { additionalProperties: false },
);
const TokenQuery = Type.Object(
  { grant_type: Type.Optional(Type.String()) },
  { additionalProperties: false },
);

interface TokenRoute {
  Body:
    | { grant_type?: string; client_id?: string; client_secret?: string; scope?: string }
    | undefined;
  Querystring: { grant_type?: string };
}

export interface OauthDeps {
  store: Store;
  config: AppConfig;
  now: () => number;
  /** The scrypt check of a client secret (default verifySecret; tests count the calls). */
  verify?: SecretVerifier;
  /** Where the secret checks wait (default: a HashQueue of its own). */
  hashQueue?: HashQueue;
}

export function registerOauthRoutes(app: FastifyInstance, deps: OauthDeps): void {
  const guard = new TokenGuard(deps.config.tokenFailures, deps.now);
  const queue = deps.hashQueue ?? new HashQueue();
  const verify = deps.verify ?? verifySecret;

  app.post<TokenRoute>(
    TOKEN_PATH,
    {
      schema: {
        tags: ['OAuth'],
        summary: 'Exchange client credentials for an access token',
        description:
          'Client credentials grant. Send `grant_type=client_credentials` in the query or the form body, ' +
          'and `client_id`/`client_secret` in the form body or as HTTP Basic authentication.',
        querystring: TokenQuery,
        body: Type.Optional(TokenBody),
        response: { 200: TokenResponseSchema, ...errorResponses(400, 401, 415, 429, 503) },
      },
      // HTTP Basic with no body at all (no content type either) is a whole token request.
      preValidation: async (request) => {
        if (request.body === undefined) request.body = {};
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const grant = request.query.grant_type ?? body.grant_type;
      if (grant === undefined) {
        throw new AppError('invalid_request', {
          field: 'grant_type',
          message: 'grant_type is missing; use client_credentials.',
        });
      }
      if (grant !== GRANT) {
        throw new AppError('unsupported_grant_type', {
          field: 'grant_type',
          message: `grant_type "${grant}" is not supported; use client_credentials.`,
        });
      }
      const credentials = readCredentials(request, body);
      const admission = guard.admit(credentials.clientId, request.ip);
      if (!admission.ok) {
        const by = admission.limit === 'client' ? 'for this client id' : 'from this address';
        throw new AppError('too_many_attempts', {
          message: `Too many failed token requests ${by}; try again in ${admission.retryAfterSeconds} s.`,
          headers: { 'retry-after': String(admission.retryAfterSeconds) },
        });
      }
      const first = admission.ticket.trustedAt !== undefined;
      let outcome: AttemptOutcome = 'untried';
      let token: IssuedToken | undefined;
      try {
        token = await issueToken(
          deps.store,
          credentials,
          deps.now(),
          deps.config.tokenTtlSeconds,
          (secret, stored) => queue.run(() => verify(secret, stored), first),
        );
        outcome = token === undefined ? 'failure' : 'success';
      } catch (error) {
        if (!(error instanceof HashQueueFull)) throw error;
        throw new AppError('service_unavailable', {
          message: 'The token endpoint is busy checking other credentials; try again in a second.',
          headers: { 'retry-after': '1' },
        });
      } finally {
        guard.settle(admission.ticket, outcome);
      }
      if (token === undefined) {
        throw new AppError('invalid_client', {
          headers: { 'www-authenticate': 'Basic realm="securemail"' },
        });
      }
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return {
        refresh_token_expires_in: '0',
        api_product_list: '[SecureMail]',
        api_product_list_json: ['SecureMail'],
        organization_name: 'securemail',
        token_type: 'Bearer' as const,
        issued_at: String(token.issuedAt),
        client_id: token.clientId,
        access_token: token.accessToken,
        application_name: token.clientName,
        scope: '',
        expires_in: String(token.expiresIn),
        refresh_count: '0',
        status: 'approved' as const,
      };
    },
  );
}

function readCredentials(
  request: FastifyRequest,
  body: { client_id?: string; client_secret?: string },
): ClientCredentials {
  const header = request.headers.authorization;
  if (header !== undefined && /^basic /i.test(header)) {
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    // RFC 6749 2.3.1: both parts are form-urlencoded before they are joined.
    const clientId = safeDecode(decoded.slice(0, colon));
    const clientSecret = safeDecode(decoded.slice(colon + 1));
    if (colon < 0 || clientId.length > MAX_CREDENTIAL || clientSecret.length > MAX_CREDENTIAL)
      throw new AppError('invalid_client', { message: 'Malformed HTTP Basic credentials.' });
    return { clientId, clientSecret };
  }
  if (body.client_id === undefined || body.client_secret === undefined) {
    throw new AppError('invalid_client', {
      message: 'Send client_id and client_secret in the form body or as HTTP Basic authentication.',
      headers: { 'www-authenticate': 'Basic realm="securemail"' },
    });
  }
  return { clientId: body.client_id, clientSecret: body.client_secret };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}
