// Liveness, readiness and metrics for the operator; no authentication, no quota.

import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { Type } from 'typebox';
import { AppError } from '../../errors.ts';
import type { Store } from '../../store/database.ts';
import { errorResponses } from '../schemas.ts';

const Status = Type.Object({ status: Type.String() });

export function registerHealthRoutes(
  app: FastifyInstance,
  deps: { store: Store; registry: Registry },
): void {
  app.get(
    '/healthz',
    {
      schema: { tags: ['Operations'], summary: 'The process is alive', response: { 200: Status } },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['Operations'],
        summary: 'The service can serve requests (database reachable)',
        response: { 200: Status, ...errorResponses(503) },
      },
    },
    async () => {
      if (!(await deps.store.ping())) {
        throw new AppError('service_unavailable', { message: 'The database is not reachable.' });
      }
      return { status: 'ready' };
    },
  );

  app.get(
    '/metrics',
    { schema: { tags: ['Operations'], summary: 'Prometheus metrics', produces: ['text/plain'] } },
    async (_request, reply) => {
      const text = await deps.registry.metrics();
      return reply.type(deps.registry.contentType).send(text);
    },
  );
}
