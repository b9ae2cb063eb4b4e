// Turns every failure into the KPN error body. Fastify's own errors (bad JSON, body too
// large, schema validation) are mapped to our codes; the database being away (unreachable,
// restarting, disk full) is a 503 with Retry-After; anything else unexpected becomes a 500
// whose body says nothing about the inside, while the log keeps the details.

import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, errorBody } from '../errors.ts';
import { isStorageUnavailable } from '../store/unavailable.ts';

/** Seconds a client is told to wait when the database is away (docs/reliability.md). */
export const STORAGE_RETRY_AFTER_SECONDS = 5;

interface ValidationIssue {
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

export function registerErrorHandling(app: FastifyInstance, knownRoutes: RouteTable): void {
  app.setErrorHandler(async (error: FastifyError | AppError, request, reply) => {
    const appError = toAppError(error);
    if (appError.code === 'service_unavailable' && !(error instanceof AppError)) {
      // Logged once per outage by the loops; per request only as a warning.
      request.log.warn({ err: error }, 'the database is unavailable');
    } else if (appError.status >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else {
      request.log.info({ code: appError.code, field: appError.field }, appError.message);
    }
    return send(reply, request, appError);
  });

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = knownRoutes.methodsFor(path);
    if (allowed.length > 0) {
      return send(
        reply,
        request,
        new AppError('method_not_allowed', {
          message: `${request.method} is not allowed on ${path}; use ${allowed.join(', ')}.`,
          headers: { allow: allowed.join(', ') },
        }),
      );
    }
    return send(reply, request, new AppError('not_found', { message: `No route ${path}.` }));
  });
}

function send(reply: FastifyReply, request: FastifyRequest, error: AppError) {
  reply.headers(error.headers);
  return reply
    .code(error.status)
    .type('application/json; charset=utf-8')
    .send(errorBody(error, request.id));
}

export function toAppError(error: FastifyError | AppError): AppError {
  if (error instanceof AppError) return error;
  const validation = (error as { validation?: ValidationIssue[] }).validation;
  if (validation !== undefined && validation.length > 0) {
    const context = (error as { validationContext?: string }).validationContext ?? 'body';
    return validationError(validation[0]!, context);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('invalid_json', {
        message: `The request body is not valid JSON: ${error.message}`,
        cause: error,
      });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('payload_too_large', { cause: error });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('unsupported_media_type', {
        message:
          'Send the body as application/json (the token endpoint also takes application/x-www-form-urlencoded).',
        cause: error,
      });
  }
  if (error instanceof SyntaxError && error.statusCode === 400) {
    return new AppError('invalid_json', {
      message: `The request body is not valid JSON: ${error.message}`,
      cause: error,
    });
  }
  if (isStorageUnavailable(error)) {
    // Nothing was committed: the transaction failed or never started. Safe to send again
    // (a repeated Message-ID with the same content answers the first result).
    return new AppError('service_unavailable', {
      message:
        'The database is unavailable; the request was not carried out. Send it again after Retry-After seconds.',
      headers: { 'retry-after': String(STORAGE_RETRY_AFTER_SECONDS) },
      cause: error,
    });
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return new AppError('invalid_request', { message: error.message, cause: error });
  }
  return new AppError('internal_error', { cause: error });
}

function validationError(issue: ValidationIssue, context: string): AppError {
  const where = context === 'querystring' ? 'query' : context;
  const path = issue.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const missing = issue.params.missingProperty;
  const extra = issue.params.additionalProperty;
  let field = path;
  let problem = issue.message ?? 'is invalid';
  if (typeof missing === 'string') {
    field = path === '' ? missing : `${path}.${missing}`;
    problem = 'is required';
  } else if (typeof extra === 'string') {
    field = path === '' ? extra : `${path}.${extra}`;
    problem = 'is not a known field';
  } else if (field === '') {
    field = where;
    problem = where === 'body' ? `must be a JSON object (${problem})` : problem;
  }
  return new AppError('validation_failed', {
    field,
    message: `${where === 'body' ? '' : `${where} `}${field}: ${problem}`,
  });
}

/** The paths the app serves and their methods, to tell 405 from 404. */
export class RouteTable {
  private readonly routes: Array<{ pattern: RegExp; method: string }> = [];

  add(url: string, methods: string | string[]): void {
    const pattern = new RegExp(
      `^${url
        .split('/')
        .map((part) => (part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : escapeRegExp(part)))
        .join('/')}/?$`,
    );
    for (const method of [methods].flat()) {
      if (method !== 'HEAD' && method !== 'OPTIONS') this.routes.push({ pattern, method });
    }
  }

  methodsFor(path: string): string[] {
    const methods = new Set(this.routes.filter((r) => r.pattern.test(path)).map((r) => r.method));
    return [...methods].sort();
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
