// POST /oauth/client_credential/accesstoken — the KPN API Store token endpoint (RFC 6749
// section 4.4, client credentials). Credentials come in the form body or as HTTP Basic.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { type ClientCredentials, issueToken } from '../../clients/clients-service.ts';
import type { Config } from '../../config.ts';
import { AppError } from '../../errors.ts';
import type { Store } from '../../store/database.ts';
import { errorResponses, TokenResponseSchema } from '../schemas.ts';

export const TOKEN_PATH = '/oauth/client_credential/accesstoken';
const GRANT = 'client_credentials';

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

export function registerOauthRoutes(
  app: FastifyInstance,
  deps: { store: Store; config: Config; now: () => number },
): void {
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
        response: { 200: TokenResponseSchema, ...errorResponses(400, 401, 415, 429) },
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
      const now = deps.now();
      const token = await issueToken(deps.store, credentials, now, deps.config.tokenTtlSeconds);
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
    if (colon < 0)
      throw new AppError('invalid_client', { message: 'Malformed HTTP Basic credentials.' });
    // RFC 6749 2.3.1: both parts are form-urlencoded before they are joined.
    return {
      clientId: safeDecode(decoded.slice(0, colon)),
      clientSecret: safeDecode(decoded.slice(colon + 1)),
    };
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
