// Starting and stopping the long-running roles of `securemail serve`: api (HTTP), worker
// (delivery, domain verification, webhooks, account notices, retention) and mx (the bounce
// MX). Everything is wired here from the configuration; nothing below reads it globally.

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { platformWarnings, spfValue } from './accounts/dns-records.ts';
import { type DomainVerifier, startDomainVerifier } from './accounts/domain-verifier.ts';
import { buildApp } from './api/app.ts';
import type { Config, Role } from './config.ts';
import { type DeliveryWorker, startDeliveryWorker } from './delivery/start.ts';
import { type DnsClient, daneAvailable, probeResolvers, type ResolverProbe } from './dns/index.ts';
import { configuredResolver } from './dns/settings.ts';
import { listenProblem, type RunningMx, startInboundMx } from './inbound/mx-server.ts';
import { type RunningMetricsServer, startMetricsServer } from './metrics/metrics-server.ts';
import { registerQueueMetrics } from './metrics/queue-metrics.ts';
import { createRegistry, type Registry } from './metrics/registry.ts';
import {
  createServiceMetrics,
  registerRoles,
  type ServiceMetrics,
} from './metrics/service-metrics.ts';
import {
  type DigestDeps,
  queueAccountNotices,
  sendDueNotices,
  startNoticeDigest,
} from './notify/notifications.ts';
import { startWebhookDispatcher } from './notify/webhook-dispatcher.ts';
import { resolverLookup } from './notify/webhook-target.ts';
import { personalDataLogWarning } from './privacy/log-notice.ts';
import { applyPrivacyRetention } from './privacy/retention.ts';
import { completeAfterReport } from './recipients/reports.ts';
import { applyBodyRetention, applyRetention } from './recipients/retention.ts';
import { assertMasterKeyMatches, loadMasterKey } from './secrets/master-key.ts';
import { clearContentSealer } from './secrets/sealed-content.ts';
import { readCaFile } from './security/settings.ts';
import { deleteExpiredTokens } from './store/clients.repository.ts';
import { openStore, type Store } from './store/database.ts';
import { deleteInboundBefore } from './store/inbound.repository.ts';
import { migrateToLatest } from './store/migrations.ts';
import type { PermissionWarning } from './store/private-files.ts';
import { deleteQuotaBefore } from './store/quota.repository.ts';
import { lockSqliteDatabase } from './store/sqlite-lock.ts';
import { StorageOutage } from './store/unavailable.ts';

const HOUSEKEEPING_INTERVAL_MS = 10 * 60 * 1000;
/** How often the resolvers are asked again whether they validate DNSSEC. */
const RESOLVER_PROBE_INTERVAL_MS = 10 * 60 * 1000;
/** How often the worker turns account notices into mail. */
const MAINTENANCE_INTERVAL_MS = 60 * 1000;
const RETENTION_INTERVAL_MS = 60 * 60 * 1000;
// Quota rows are kept a little longer than the longest window so no live counter is removed.
const QUOTA_ROW_RETENTION_MS = 32 * 24 * 3600 * 1000;

export interface RunningService {
  store: Store;
  app: FastifyInstance | undefined;
  /** The address the API listens on, e.g. http://127.0.0.1:8080. */
  url: string | undefined;
  /** Every role's metrics: served at the API's /metrics and on SECUREMAIL_METRICS_PORT. */
  registry: Registry;
  /** The port of the separate metrics listener, when SECUREMAIL_METRICS_PORT is set. */
  metricsPort: number | undefined;
  stop(): Promise<void>;
}

/** Opens and migrates the store, checks the master key: what every command needing data does. */
export async function openReadyStore(
  config: Config,
  logger: Logger,
): Promise<{ store: Store; masterKey: Buffer }> {
  // Said once per path: a tightened mode is found private on the next start.
  const warn: PermissionWarning = (details, message) => logger.warn(details, message);
  const key = loadMasterKey(config.masterKey, config.dataDir, warn);
  if (key.source === 'generated') {
    logger.warn(
      { file: key.file },
      'SECUREMAIL_MASTER_KEY is not set: generated a new master key and stored it in the data directory. ' +
        'Back it up: without it, DKIM keys and queued messages cannot be decrypted. Every process ' +
        'sharing this database needs the same key.',
    );
  }
  const store = openStore({
    databaseUrl: config.databaseUrl,
    sqlitePath: config.sqlitePath,
    warn,
    onConnectionError: (error) =>
      logger.warn({ err: error }, 'a database connection failed; it is replaced on the next query'),
  });
  try {
    // The sealer lets migration 0007 seal what older versions kept in clear; it checks the
    // key against the database before sealing anything.
    const { applied } = await migrateToLatest(store.db, store.schema, {
      sealer: clearContentSealer(key.key),
    });
    if (applied.length > 0) logger.info({ applied }, 'database migrated');
    await assertMasterKeyMatches(store, key.key);
  } catch (error) {
    await store.close();
    throw error;
  }
  return { store, masterKey: key.key };
}

export async function startService(
  config: Config,
  logger: Logger,
  roles: readonly Role[],
): Promise<RunningService> {
  // Before the store is opened: a second process on the same SQLite file stops here, having
  // migrated nothing and taken back no claim (src/store/sqlite-lock.ts).
  const sqliteLock =
    config.databaseUrl === undefined
      ? lockSqliteDatabase(config.sqlitePath, (details, message) => logger.warn(details, message))
      : undefined;
  const { store, masterKey } = await openReadyStore(config, logger).catch((error: unknown) => {
    sqliteLock?.release();
    throw error;
  });
  /** The store, then the SQLite lock: given up only once the database is closed. */
  const closeStore = async () => {
    try {
      await store.close();
    } finally {
      sqliteLock?.release();
    }
  };
  logger.info({ database: store.description, roles }, 'starting');
  logSettingsOfNote(config, logger);
  // One registry for every role of this process (docs/operations.md, "Metrics").
  const registry = createRegistry();
  const metrics = createServiceMetrics(registry);
  registerRoles(registry, roles);
  registerQueueMetrics(registry, { db: store.db });
  const shared: Shared = {
    config,
    logger,
    store,
    masterKey,
    registry,
    metrics,
    // Domain verification asks DNS without a cache: an owner who just published a record is
    // never answered from a stale negative entry.
    verificationResolver: configuredResolver(config, {
      cache: false,
      onFailure: metrics.dnsFailure,
    }),
    extraCa: readCaFile(config.security.caFile),
    // Delivery asks DNS through a cache that honours TTLs: thousands of recipients of one
    // domain need its MX, TLSA and MTA-STS answers once.
    deliveryResolver: configuredResolver(config, { onFailure: metrics.dnsFailure }),
    timers: [],
  };
  const metricsServer = await startMetricsListener(shared).catch(async (error: unknown) => {
    await shared.deliveryResolver.close();
    await shared.verificationResolver.close();
    await closeStore();
    throw error;
  });
  const resolverWatch = watchResolvers(config, logger);
  shared.timers.push(resolverWatch.timer);

  let background: WorkerRole | undefined;
  const api = roles.includes('api')
    ? await startApiRole(shared, resolverWatch.latest, () => background?.worker.poke())
    : undefined;
  if (roles.includes('worker')) background = startWorkerRole(shared);
  const mx = roles.includes('mx') ? await startMxRole(shared) : undefined;

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      for (const t of shared.timers) clearInterval(t);
      await metricsServer?.close();
      // Fastify's close stops accepting connections and waits for requests in flight.
      if (api !== undefined) await api.app.close();
      // The verifier finishes the check in progress; its schedule is in the database.
      await background?.verifier.stop();
      await mx?.close();
      // The worker finishes the recipients of its current round; the rest stay queued.
      await background?.worker.stop();
      await background?.notices.stop();
      await background?.dispatcher.stop();
      await shared.deliveryResolver.close();
      await shared.verificationResolver.close();
      await closeStore();
    })();
    return stopping;
  };
  return {
    store,
    app: api?.app,
    url: api?.url,
    registry,
    metricsPort: metricsServer?.port,
    stop,
  };
}

/**
 * SECUREMAIL_METRICS_PORT: /metrics on a listener of its own, for processes without the api
 * role. A port it cannot bind stops the start: an operator who set it expects to be scraped.
 */
async function startMetricsListener(shared: Shared): Promise<RunningMetricsServer | undefined> {
  const { config, logger } = shared;
  if (config.metricsPort === 0) return undefined;
  const server = await startMetricsServer(shared.registry, {
    host: config.metricsHost,
    port: config.metricsPort,
  });
  logger.info({ url: `http://${config.metricsHost}:${server.port}/metrics` }, 'metrics listening');
  return server;
}

/** What every role is started with; roles add the timers they set. */
interface Shared {
  config: Config;
  logger: Logger;
  store: Store;
  masterKey: Buffer;
  registry: Registry;
  metrics: ServiceMetrics;
  verificationResolver: DnsClient;
  deliveryResolver: DnsClient;
  extraCa: string[];
  timers: NodeJS.Timeout[];
}

/**
 * Settings that open the service beyond its defaults, and defaults that cannot work on the
 * internet, are said at start.
 */
function logSettingsOfNote(config: Config, logger: Logger): void {
  const names = platformWarnings(config);
  const problems = [names.hostname, names.mx, names.spf].filter((w) => w !== undefined);
  if (problems.length > 0) {
    logger.warn(
      {
        hostname: config.hostname,
        mxHosts: config.mxHosts,
        spfInclude: config.spfInclude ?? null,
        spfIps: config.spfIps,
        problems,
      },
      `not set up for the internet: accounts would be told to publish MX ${config.mxHosts.join(
        ' and ',
      )} and "${spfValue(config)}", which cannot work. Set SECUREMAIL_HOSTNAME, ` +
        'SECUREMAIL_MX_HOSTS and SECUREMAIL_SPF_INCLUDE or SECUREMAIL_SPF_IPS before onboarding ' +
        'domains (README, "Before a real deployment")',
    );
  }
  const personal = personalDataLogWarning(config.logLevel);
  if (personal !== undefined) logger.warn({ logLevel: config.logLevel }, personal);
  if (config.security.allowNetworks.length > 0) {
    logger.warn(
      { allowNetworks: config.security.allowNetworks },
      'SECUREMAIL_MX_ALLOW_NETWORKS is set: mail and MTA-STS policy fetches may reach these networks outside the public internet',
    );
  }
  if (config.privateSuffixes.length > 0) {
    logger.info(
      { privateSuffixes: config.privateSuffixes },
      'SECUREMAIL_PRIVATE_SUFFIXES is set: sending domains under these suffixes can be onboarded',
    );
  }
}

/** The api role: the HTTP API listening, and the removal of expired tokens and quota rows. */
async function startApiRole(
  shared: Shared,
  resolverProbes: () => readonly ResolverProbe[] | undefined,
  onMessageAccepted: () => void,
): Promise<{ app: FastifyInstance; url: string }> {
  const { config, store, logger } = shared;
  const app = await buildApp({
    config,
    store,
    logger,
    masterKey: shared.masterKey,
    resolver: shared.verificationResolver,
    extraCa: shared.extraCa,
    onMessageAccepted,
    resolverProbes,
    registry: shared.registry,
  });
  const url = await app.listen({ host: config.httpHost, port: config.httpPort });
  logger.info({ url, docs: `${url}/docs` }, 'API listening');
  const housekeeping = async () => {
    const now = Date.now();
    try {
      await deleteExpiredTokens(store.db, now);
      await deleteQuotaBefore(store.db, now - QUOTA_ROW_RETENTION_MS);
    } catch (error) {
      logger.warn({ err: error }, 'housekeeping failed; will retry');
    }
  };
  const timer = setInterval(housekeeping, HOUSEKEEPING_INTERVAL_MS);
  timer.unref();
  shared.timers.push(timer);
  return { app, url };
}

interface WorkerRole {
  verifier: DomainVerifier;
  worker: DeliveryWorker;
  notices: { stop(): Promise<void> };
  dispatcher: { stop(): Promise<void> };
}

/** What the notices about undelivered recipients are sent with. */
function digestDeps(shared: Shared): DigestDeps {
  const { config, store, masterKey, logger } = shared;
  return {
    store,
    masterKey,
    hostname: config.hostname,
    now: Date.now,
    digestMs: config.notices.digestMs,
    retryWindowMs: config.delivery.retryWindowMs,
    logger: logger.child({ component: 'notices' }),
  };
}

/**
 * The worker role: domain verification, account notices and retention (maintenance),
 * delivery, the notices about undelivered recipients (the digest), and the webhook
 * dispatcher.
 */
function startWorkerRole(shared: Shared): WorkerRole {
  const { config, store, masterKey, logger } = shared;
  const verifier = startDomainVerifier({
    store,
    config,
    now: Date.now,
    resolver: shared.verificationResolver,
    masterKey,
    logger: logger.child({ component: 'domain-verifier' }),
    onChecked: shared.metrics.domainVerified,
  });
  logger.info(
    { pollSeconds: config.verification.pollSeconds },
    'worker role: domain verifier started',
  );
  const maintenanceTimer = setInterval(maintenance(shared), MAINTENANCE_INTERVAL_MS);
  maintenanceTimer.unref();
  shared.timers.push(maintenanceTimer);
  const worker = startDeliveryWorker({
    config,
    store,
    masterKey,
    resolver: shared.deliveryResolver,
    extraCa: shared.extraCa,
    logger: logger.child({ component: 'delivery' }),
    observeAttempts: shared.metrics.attemptsRecorded,
  });
  logger.info({ concurrency: config.delivery.concurrency }, 'worker role: delivery started');
  const notices = startNoticeDigest(digestDeps(shared));
  const dispatcher = startWebhookDispatcher({
    db: store.db,
    masterKey,
    config: config.webhooks,
    lookup: resolverLookup(shared.deliveryResolver),
    logger: logger.child({ component: 'webhooks' }),
    onDispatched: shared.metrics.webhooksDispatched,
  });
  return { verifier, worker, notices, dispatcher };
}

/**
 * Each minute: account notices become mail, and bodies of completed messages go (by default
 * at completion); each hour: the rest of retention (docs/privacy.md).
 */
function maintenance(shared: Shared): () => Promise<void> {
  const { config, store, masterKey, logger } = shared;
  let lastRetention = 0;
  // Once a minute anyway; an outage is said once, and its end.
  const outage = new StorageOutage(logger, 'worker maintenance');
  return async () => {
    const now = Date.now();
    try {
      await queueAccountNotices({ store, masterKey, hostname: config.hostname, now: Date.now });
      const bodies = await applyBodyRetention(store.db, config.delivery, now);
      if (now - lastRetention >= RETENTION_INTERVAL_MS) {
        lastRetention = now;
        const run = await applyRetention(store.db, config.delivery, now);
        const inbound = await deleteInboundBefore(
          store.db,
          now - config.inbound.retentionDays * 86_400_000,
        );
        const privacy = await applyPrivacyRetention(store.db, config.privacy, now);
        const total =
          run.bodiesDeleted +
          run.subjectsDeleted +
          run.messagesDeleted +
          run.sessionEvidenceDeleted +
          inbound +
          privacy.webhookEventsDeleted +
          privacy.noticesDeleted;
        if (total > 0) logger.info({ ...run, inbound, ...privacy }, 'retention applied');
      } else if (bodies > 0) {
        logger.debug({ bodiesDeleted: bodies }, 'bodies of completed messages deleted');
      }
      outage.succeeded();
    } catch (error) {
      outage.failed(error);
    }
  };
}

/**
 * The mx role: the bounce MX, unless SECUREMAIL_MX_PORT is 0. A port it cannot bind is
 * logged and the other roles run on.
 */
async function startMxRole(shared: Shared): Promise<RunningMx | undefined> {
  const { config, store, masterKey, logger } = shared;
  if (!config.inbound.enabled) {
    logger.info('mx role: SECUREMAIL_MX_PORT is 0, the bounce MX is off');
    return undefined;
  }
  try {
    const mx = await startInboundMx({
      db: store.db,
      masterKey,
      config: config.inbound,
      hostname: config.hostname,
      logger: logger.child({ component: 'mx' }),
      onReceived: shared.metrics.bounceMxReceived,
      onBounced: async (result) => {
        // A bounce can be the last recipient of a message to become final.
        const messageId = result.messageId;
        if (messageId === null || result.outcome !== 'bounced') return;
        // The report waits for the message's notice (src/outbox/recipient-notices.ts): at
        // once when it completed the message, else when the digest window closes (a late
        // bounce of a complete message gets a notice of its own that way).
        const completion = await completeAfterReport(store.db, messageId, Date.now());
        if (completion === 'completed') await sendDueNotices(digestDeps(shared), [messageId]);
      },
    });
    logger.info({ host: config.inbound.host, port: mx.port }, 'mx role: bounce MX listening');
    return mx;
  } catch (error) {
    // Sending goes on without the bounce MX; bounces then wait in the senders' queues. Said
    // once, with what really happened (a taken port is not a missing permission).
    const { host, port } = config.inbound;
    logger.error(
      { code: (error as NodeJS.ErrnoException).code ?? null, host, port },
      `mx role: the bounce MX cannot listen: ${listenProblem(error, host, port)}. The other roles keep running`,
    );
    return undefined;
  }
}

/**
 * Asks the resolvers at start-up, and every ten minutes, whether they validate DNSSEC and
 * whether we trust their AD bit; warns where DANE cannot work (once, and again on change).
 */
function watchResolvers(
  config: Config,
  logger: Logger,
): { latest: () => readonly ResolverProbe[] | undefined; timer: NodeJS.Timeout } {
  let latest: ResolverProbe[] | undefined;
  let said = '';
  const probe = async () => {
    const probes = await probeResolvers(config.dnsServers, config.dnsTrustAd, config.dnsTimeoutMs);
    latest = probes;
    const problems = probes.filter((p) => !(p.trustAd && p.validates)).map((p) => p.summary);
    const text = problems.join('\n');
    if (text === said) return;
    said = text;
    if (problems.length === 0) {
      logger.info(
        { resolvers: probes.map((p) => p.server) },
        'DNS: the resolvers validate DNSSEC and are trusted',
      );
      return;
    }
    logger.warn(
      { resolvers: problems, trustAd: config.dnsTrustAd, daneAvailable: daneAvailable(probes) },
      daneAvailable(probes)
        ? 'DNS: some resolvers cannot be used for DNSSEC; answers from them count as insecure'
        : 'DNS: no resolver both validates DNSSEC and is trusted for it, so DANE is unavailable and ' +
            'dane-only accounts defer every recipient. Run a validating resolver on this machine ' +
            '(e.g. unbound on 127.0.0.1) and point SECUREMAIL_DNS_SERVERS at it.',
    );
  };
  void probe().catch((error: unknown) => logger.warn({ err: error }, 'DNS: resolver probe failed'));
  const timer = setInterval(() => {
    void probe().catch((error: unknown) =>
      logger.warn({ err: error }, 'DNS: resolver probe failed'),
    );
  }, RESOLVER_PROBE_INTERVAL_MS);
  timer.unref();
  return { latest: () => latest, timer };
}
