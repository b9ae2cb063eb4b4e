// The headers on every response, success or error, as the KPN API Store sends them, and
// the CORS preflight answer.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { quotaWindow } from './quota-window.ts';
import type { AppConfig } from './settings.ts';

const QUOTA_HEADERS = [
  'quota-interval',
  'quota-time-unit',
  'quota-limit',
  'quota-used',
  'quota-reset-UTC',
];
const EXPOSED = ['sunset', 'api-version', 'x-request-id', 'retry-after', ...QUOTA_HEADERS].join(
  ', ',
);
const ALLOWED_METHODS = 'GET, POST, PUT, PATCH, DELETE, OPTIONS';
const ALLOWED_HEADERS = 'Authorization, Content-Type, Accept, X-Request-Id';
const PREFLIGHT_MAX_AGE = '86400';

export function registerStandardHeaders(
  app: FastifyInstance,
  config: AppConfig,
  now: () => number,
): void {
  const set = (request: FastifyRequest, reply: FastifyReply) => {
    // Callers we could not identify see the default quota with nothing used.
    const quota = request.quota ?? {
      limit: config.quota.limit,
      used: 0,
      resetAt: quotaWindow(now(), config.quota.interval, config.quota.timeUnit).end,
    };
    reply.headers({
      sunset: 'n/a',
      'api-version': config.apiVersion,
      'quota-interval': String(config.quota.interval),
      'quota-time-unit': config.quota.timeUnit,
      'quota-limit': String(quota.limit),
      'quota-used': String(quota.used),
      'quota-reset-UTC': String(quota.resetAt),
      'strict-transport-security': 'max-age=31536000; includeSubDomains; preload',
      'access-control-allow-origin': config.corsOrigin,
      'access-control-allow-methods': ALLOWED_METHODS,
      'access-control-allow-headers': ALLOWED_HEADERS,
      'access-control-expose-headers': EXPOSED,
      'x-request-id': request.id,
    });
    // A named origin may send credentials (the KPN header list has allow-credentials);
    // browsers never allow them with `*`, so then the header is left out.
    if (config.corsOrigin !== '*') {
      reply.header('vary', 'Origin');
      reply.header('access-control-allow-credentials', 'true');
    }
  };

  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'OPTIONS') {
      set(request, reply);
      reply.header('access-control-max-age', PREFLIGHT_MAX_AGE);
      return reply.code(204).send();
    }
  });
  app.addHook('onSend', async (request, reply, payload) => {
    set(request, reply);
    return payload;
  });
}
