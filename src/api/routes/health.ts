// Liveness, readiness and metrics for the operator; no authentication, no quota.

import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { Type } from 'typebox';
import { type AdTrust, daneAvailable, type ResolverProbe } from '../../dns/index.ts';
import { AppError } from '../../errors.ts';
import type { Store } from '../../store/database.ts';
import { errorResponses } from '../schemas.ts';

const Status = Type.Object({ status: Type.String() });

/**
 * Probes and scrapes come every few seconds from load balancers and Prometheus: logged at
 * info they drowned everything else (two lines per request). Their requests are logged only
 * at warn and above, so a failing probe still shows.
 */
const QUIET = { logLevel: 'warn' } as const;

const Readiness = Type.Object({
  status: Type.String(),
  dns: Type.Object({
    trust_ad: Type.String({ description: 'SECUREMAIL_DNS_TRUST_AD: auto, always or never.' }),
    dane_available: Type.Union([Type.Boolean(), Type.Null()], {
      description:
        'Whether some resolver both validates DNSSEC and is trusted for its AD bit; null before the first probe.',
    }),
    resolvers: Type.Array(
      Type.Object({
        server: Type.String(),
        trust_ad: Type.Boolean(),
        answered: Type.Boolean(),
        validates: Type.Boolean(),
        summary: Type.String(),
      }),
    ),
  }),
  warnings: Type.Array(Type.String()),
});

export function registerHealthRoutes(
  app: FastifyInstance,
  deps: {
    store: Store;
    registry: Registry;
    dnsTrustAd: AdTrust;
    resolverProbes?: () => readonly ResolverProbe[] | undefined;
  },
): void {
  app.get(
    '/healthz',
    {
      ...QUIET,
      schema: { tags: ['Operations'], summary: 'The process is alive', response: { 200: Status } },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      ...QUIET,
      schema: {
        tags: ['Operations'],
        summary: 'The service can serve requests (database reachable)',
        description:
          'Ready when the database answers. `dns` says whether the resolvers validate DNSSEC and are ' +
          'trusted for it (DANE needs both); problems there are `warnings`, not unreadiness.',
        response: { 200: Readiness, ...errorResponses(503) },
      },
    },
    async () => {
      if (!(await deps.store.ping())) {
        throw new AppError('service_unavailable', { message: 'The database is not reachable.' });
      }
      const probes = deps.resolverProbes?.();
      const warnings = (probes ?? [])
        .filter((probe) => !(probe.trustAd && probe.validates))
        .map((probe) => probe.summary);
      if (probes !== undefined && !daneAvailable(probes)) {
        warnings.push(
          'DANE is unavailable: no resolver both validates DNSSEC and is trusted; dane-only accounts defer.',
        );
      }
      return {
        status: 'ready',
        dns: {
          trust_ad: deps.dnsTrustAd,
          dane_available: probes === undefined ? null : daneAvailable(probes),
          resolvers: (probes ?? []).map((probe) => ({
            server: probe.server,
            trust_ad: probe.trustAd,
            answered: probe.answered,
            validates: probe.validates,
            summary: probe.summary,
          })),
        },
        warnings,
      };
    },
  );

  app.get(
    '/metrics',
    {
      ...QUIET,
      schema: { tags: ['Operations'], summary: 'Prometheus metrics', produces: ['text/plain'] },
    },
    async (_request, reply) => {
      const text = await deps.registry.metrics();
      return reply.type(deps.registry.contentType).send(text);
    },
  );
}
