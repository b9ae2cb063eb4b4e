// What the request logs may say about a request. Logs travel further than the database
// (log shippers, support tickets, screenshots), so nothing that works as a credential goes
// in: the Authorization header and cookies are never logged, and the values of
// credential-like query parameters are replaced in the logged URL. A client that puts
// `client_secret` or `access_token` in a query string by mistake does not leak it to us.

import type { FastifyRequest } from 'fastify';
import type { LoggerOptions } from 'pino';

export const REDACTED = '[REDACTED]';

// Query keys whose values are credentials: OAuth 2.0 (RFC 6749/6750) and common API habits.
const SECRET_KEYS = new Set([
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'client_secret',
  'secret',
  'code',
  'password',
  'passwd',
  'pwd',
  'key',
  'api_key',
  'apikey',
  'auth',
  'authorization',
  'signature',
  'sig',
  'session',
  'sessionid',
  'jwt',
  'assertion',
  'client_assertion',
  'credential',
  'credentials',
]);
// And any key that names one of these in a longer name (`webhook_secret`, `x-api-key`).
const SECRET_PARTS = /secret|token|passw|api[-_]?key|credential|signature|session|authoriz/i;

/** True when a query parameter of this name is a credential. */
export function isSecretKey(name: string): boolean {
  return SECRET_KEYS.has(name.toLowerCase()) || SECRET_PARTS.test(name);
}

// Query keys whose values are a person's e-mail address (GET /account/data-subject,
// DELETE /account/suppressions): not credentials, but logs at info carry no recipient
// addresses (docs/privacy.md), so they are replaced too.
const PERSONAL_KEYS = new Set(['address', 'email', 'recipient']);

/** True when a query parameter of this name holds an e-mail address. */
export function isPersonalKey(name: string): boolean {
  return PERSONAL_KEYS.has(name.toLowerCase());
}

/**
 * The URL with the values of secret query parameters replaced. Keys that cannot be decoded
 * are treated as secret; the path and the other parameters are kept as sent.
 */
export function redactUrl(url: string): string {
  const mark = url.indexOf('?');
  if (mark < 0) return url;
  const query = url
    .slice(mark + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      let name: string;
      try {
        name = decodeURIComponent(pair.slice(0, eq).replace(/\+/g, ' '));
      } catch {
        return `${pair.slice(0, eq)}=${REDACTED}`;
      }
      const key = name.trim();
      return isSecretKey(key) || isPersonalKey(key) ? `${pair.slice(0, eq)}=${REDACTED}` : pair;
    });
  return `${url.slice(0, mark)}?${query.join('&')}`;
}

/**
 * Fastify's request serializer without headers, with the URL redacted. Also called for any
 * object logged under `req`, so it reads nothing it has not checked.
 */
function serializeRequest(
  request: Partial<Pick<FastifyRequest, 'method' | 'url' | 'host' | 'ip' | 'socket'>>,
) {
  return {
    method: request.method,
    url: typeof request.url === 'string' ? redactUrl(request.url) : undefined,
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/**
 * Options for the API's child logger. The serializer covers Fastify's own request lines;
 * `redact` covers objects logged by hand that carry headers or credential fields.
 */
export const requestLogOptions = {
  serializers: { req: serializeRequest },
  redact: {
    paths: [
      'req.headers.authorization',
      'req.headers.cookie',
      'headers.authorization',
      'headers.cookie',
      'authorization',
      'client_secret',
      'access_token',
      'password',
      '*.client_secret',
      '*.access_token',
      '*.password',
    ],
    censor: REDACTED,
  },
} satisfies Pick<LoggerOptions, 'redact'> & { serializers: Record<string, unknown> };
