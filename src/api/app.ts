// buildApp(): the HTTP API with all its routes, hooks and docs, not yet listening. Tests use
// it with app.inject(); the `api` role of `securemail serve` listens on it.

import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { requireSendableDomain } from '../accounts/sending-domain.ts';
import type { SecretVerifier } from '../clients/clients-service.ts';
import type { Resolver, ResolverProbe } from '../dns/index.ts';
import { configuredResolver } from '../dns/settings.ts';
import { createRegistry } from '../metrics/registry.ts';
import { type HostLookup, resolverLookup } from '../notify/webhook-target.ts';
import { filterSuppressed } from '../recipients/suppression.ts';
import type { HashQueue } from '../secrets/hash-queue.ts';
import { addressDigest } from '../secrets/keyed-digest.ts';
import { checkRecipients } from '../security/check.ts';
import { createDatabaseStsPolicyCache } from '../security/mta-sts-store.ts';
import { outboundOptions } from '../security/settings.ts';
import type { Store } from '../store/database.ts';
import { authenticateAndCount } from './authenticate.ts';
import { acceptOnlyJson, registerBodyParsers } from './body-parsers.ts';
import type { AppConfig, HttpServerLimits } from './settings.ts';
import './caller.ts';
import { type Commits, createCommits } from '../store/group-commit.ts';
import { RouteTable, registerErrorHandling } from './error-handler.ts';
import { requestLogOptions } from './log-redaction.ts';
import { registerHttpMetrics } from './metrics.ts';
import { registerAccountListRoutes } from './routes/account-list.ts';
import { registerAccountRoutes } from './routes/accounts.ts';
import { registerConsole } from './routes/console.ts';
import { registerDataSubjectRoutes } from './routes/data-subject.ts';
import { registerEvidenceRoutes } from './routes/evidence.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerMessageRoutes } from './routes/messages.ts';
import { registerOauthRoutes, TOKEN_PATH } from './routes/oauth.ts';
import { registerOverviewRoutes } from './routes/overview.ts';
import { registerReasonRoutes } from './routes/reasons.ts';
import { registerReportRoutes } from './routes/report.ts';
import { registerSecurityRoutes } from './routes/security.ts';
import { registerSuppressionRoutes } from './routes/suppressions.ts';
import { registerWebhookDeliveryRoutes } from './routes/webhook-deliveries.ts';
import { registerWebhookRoutes } from './routes/webhooks.ts';
import { ErrorBodySchema } from './schemas.ts';
import { registerStandardHeaders } from './standard-headers.ts';

export interface AppDeps {
  config: AppConfig;
  store: Store;
  /** A pino logger, or false for none (tests). */
  logger: Logger | false;
  now?: () => number;
  registry?: Registry;
  /**
   * Encrypts DKIM private keys. `securemail serve` passes the real one; the default, a random
   * key per app, only suits tests (keys made with it cannot be read by another process).
   */
  masterKey?: Buffer;
  /**
   * Asks DNS when verifying domains. Default: a resolver on `config.dnsServers` without a
   * cache, so an owner who just fixed a record is never answered from a stale negative entry.
   */
  resolver?: Resolver;
  /** Extra trusted CAs for outbound checks (SECUREMAIL_CA_FILE, read by the caller). */
  extraCa?: readonly string[];
  /** Told after each accepted message, so a worker in the same process starts at once. */
  onMessageAccepted?: () => void;
  /** Resolves webhook host names for the SSRF check; default: through `resolver`. */
  webhookLookup?: HostLookup;
  /** The latest DNSSEC probe of the resolvers (src/dns/validation-probe.ts), for /readyz. */
  resolverProbes?: () => readonly ResolverProbe[] | undefined;
  /** The scrypt check of client secrets (default verifySecret); tests count calls through it. */
  verifySecret?: SecretVerifier;
  /** Where token requests wait for their secret check; tests look at its queue. */
  tokenHashQueue?: HashQueue;
  /** How long DELETE /account/data-subject waits for a recipient being sent (tests shorten it). */
  erasureWaitMs?: number;
}

// A client may pass its own request id for correlation; anything else is replaced, so logs
// cannot be polluted through the header.
const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, store } = deps;
  const now = deps.now ?? Date.now;
  const registry = deps.registry ?? createRegistry();
  const masterKey = deps.masterKey ?? randomBytes(32);
  const ownResolver =
    deps.resolver === undefined ? configuredResolver(config, { cache: false }) : undefined;
  const resolver = deps.resolver ?? ownResolver!;

  const app = createFastify(deps);

  if (ownResolver !== undefined) app.addHook('onClose', () => ownResolver.close());
  const commits = createCommits(store);
  app.addHook('onClose', () => commits.drain());

  const routes = new RouteTable();
  app.addHook('onRoute', (route) => routes.add(route.url, route.method));
  app.decorateRequest('caller', undefined);
  app.decorateRequest('quota', undefined);
  app.addSchema(ErrorBodySchema);

  registerStandardHeaders(app, config, now);
  registerErrorHandling(app, routes);
  registerHttpMetrics(app, registry);
  registerBodyParsers(app);
  await app.register(formbody, { bodyLimit: config.bodyLimitBytes });

  await registerDocs(app, config);

  registerHealthRoutes(app, {
    store,
    registry,
    dnsTrustAd: config.dnsTrustAd,
    ...(deps.resolverProbes ? { resolverProbes: deps.resolverProbes } : {}),
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  // The web console (docs/console.md): static files under /console; SECUREMAIL_CONSOLE=off drops it.
  if (config.console.enabled) {
    await registerConsole(app, { apiBase: config.basePath, apiVersion: config.apiVersion });
  }
  registerOauthRoutes(app, {
    store,
    config,
    now,
    ...(deps.verifySecret === undefined ? {} : { verify: deps.verifySecret }),
    ...(deps.tokenHashQueue === undefined ? {} : { hashQueue: deps.tokenHashQueue }),
  });

  await app.register(
    async (api) => registerApiRoutes(api, { ...deps, now, masterKey, resolver, commits }),
    { prefix: config.basePath },
  );

  return app;
}

/** Fastify with our logger, body limit, request ids and strict validation. */
function createFastify(deps: AppDeps): FastifyInstance {
  const { config } = deps;
  return Fastify({
    ...(deps.logger === false
      ? { logger: false }
      : // Request logs never carry credentials (log-redaction.ts).
        { loggerInstance: deps.logger.child({}, requestLogOptions) as FastifyBaseLogger }),
    bodyLimit: config.bodyLimitBytes,
    serverFactory: (handler) => httpServer(handler, config.http),
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true },
    ajv: {
      // Unknown fields are an error the caller should hear about, not something to drop.
      customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false },
    },
  });
}

/**
 * The Node HTTP server under Fastify, with the time limits and the connection cap of the
 * settings: a client that sends its request a byte at a time gets 408 and is closed once the
 * headers' or the request's time is up, and holds one connection of the cap meanwhile. Node
 * checks those times every `connectionsCheckingInterval` (30 s by default): checked at a
 * tenth of the headers' time here, at most every 30 s, so a limit holds within 10 %.
 */
function httpServer(handler: http.RequestListener, limits: HttpServerLimits): http.Server {
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveMs,
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, limits.headersTimeoutMs / 10)),
    },
    handler,
  );
  server.maxConnections = limits.maxConnections;
  return server;
}

/** OpenAPI 3.1 from the route schemas, and Swagger UI at /docs with the client-credentials flow. */
async function registerDocs(app: FastifyInstance, config: AppConfig): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'SecureMail API',
        version: config.apiVersion,
        description:
          'Secure E-mail API, compatible with the KPN API Store Secure E-mail API. Mail is delivered only ' +
          'to recipient servers reachable over an encrypted, authenticated connection.',
      },
      ...(config.publicUrl === undefined ? {} : { servers: [{ url: config.publicUrl }] }),
      components: {
        securitySchemes: {
          oauth2: {
            type: 'oauth2',
            description: 'Client credentials made with `securemail client create`.',
            flows: {
              clientCredentials: { tokenUrl: `${config.publicUrl ?? ''}${TOKEN_PATH}`, scopes: {} },
            },
          },
        },
      },
    },
    refResolver: {
      buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`),
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { persistAuthorization: false },
  });
}

/** The authenticated routes, under the base path: each request authenticated and counted. */
function registerApiRoutes(
  api: FastifyInstance,
  deps: AppDeps & {
    now: () => number;
    masterKey: Buffer;
    resolver: Resolver;
    commits: Commits;
  },
): void {
  const { config, store, now, masterKey, resolver, commits } = deps;
  acceptOnlyJson(api);
  api.addHook('onRequest', authenticateAndCount({ store, config, now, commits }));
  registerAccountRoutes(api, {
    store,
    config,
    now,
    resolver,
    masterKey,
    logger: deps.logger === false ? undefined : deps.logger,
  });
  registerMessageRoutes(api, {
    store,
    masterKey,
    limits: config.sending,
    now,
    transaction: (work) => commits.transaction(work),
    requireSendable: (clientId, domain) =>
      requireSendableDomain({ store, config }, clientId, domain),
    // An address erased for its owner stays suppressed as a keyed digest (docs/privacy.md).
    filterSuppressed: (accountId, addresses) =>
      filterSuppressed(store.db, accountId, addresses, (address) =>
        addressDigest(masterKey, accountId, address),
      ),
    ...(deps.onMessageAccepted === undefined ? {} : { onAccepted: deps.onMessageAccepted }),
    privateSuffixes: config.privateSuffixes,
  });
  registerEvidenceRoutes(api, { store, now, privateSuffixes: config.privateSuffixes });
  registerSuppressionRoutes(api, { store, now, masterKey });
  registerWebhookRoutes(api, {
    store,
    masterKey,
    config: config.webhooks,
    now,
    // Webhook hosts are resolved through the configured resolvers, like everything else.
    lookup: deps.webhookLookup ?? resolverLookup(resolver),
  });
  const stsCache = createDatabaseStsPolicyCache(store.db);
  const security = outboundOptions(config, deps.extraCa ?? []);
  registerSecurityRoutes(api, {
    now,
    cacheMs: config.security.checkCacheMs,
    check: (domains, policyLevel) =>
      checkRecipients(domains, { ...security, policyLevel }, { resolver, stsCache }),
  });
  // Read-only views the console is built on (docs/console.md), public API like the rest.
  registerAccountListRoutes(api, { store });
  registerOverviewRoutes(api, {
    store,
    now,
    retryWindowMs: config.delivery.retryWindowMs,
    privateSuffixes: config.privateSuffixes,
  });
  registerReasonRoutes(api);
  registerWebhookDeliveryRoutes(api, { store });
  registerReportRoutes(api, { store, now, config });
  // A data subject's access and erasure (docs/privacy.md).
  registerDataSubjectRoutes(api, {
    store,
    masterKey,
    now,
    privateSuffixes: config.privateSuffixes,
    ...(deps.erasureWaitMs === undefined ? {} : { erasureWaitMs: deps.erasureWaitMs }),
  });
}
