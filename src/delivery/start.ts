// Wires the delivery worker from configuration: the security engine's options, the shared
// MTA-STS cache in the database, DKIM keys from domain onboarding, notifications.

import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { dkimSigningKeys } from '../accounts/sending-domain.ts';
import type { Resolver } from '../dns/types.ts';
import { sendDueNotices } from '../notify/notifications.ts';
import type { NoticeSettings } from '../notify/settings.ts';
import type { AttemptObserver } from '../recipients/attempts.ts';
import { createDatabaseStsPolicyCache } from '../security/mta-sts-store.ts';
import { type OutboundSecurityConfig, outboundOptions } from '../security/settings.ts';
import type { Store } from '../store/database.ts';
import { findAccountById } from '../store/domain-checks.repository.ts';
import type { DeliverySettings } from './settings.ts';
import { DeliveryWorker } from './worker.ts';

export { DeliveryWorker };

/** What the worker reads of the configuration. */
export interface DeliveryWorkerConfig {
  delivery: DeliverySettings;
  security: OutboundSecurityConfig;
  notices: NoticeSettings;
  /** Our EHLO name and the host part of notification Message-IDs. */
  hostname: string;
}

export interface StartDeliveryDeps {
  config: DeliveryWorkerConfig;
  store: Store;
  masterKey: Buffer;
  resolver: Resolver;
  extraCa: readonly string[];
  logger: Logger;
  now?: () => number;
  /** Starts the polling loop (default); tests drive runOnce() themselves. */
  autoStart?: boolean;
  /** Told of the attempts of each commit (metrics). */
  observeAttempts?: AttemptObserver;
}

/** Pause before claiming again while the queue is empty; a submission in this process wakes it early. */
const IDLE_MS = 1000;

export function createDeliveryWorker(deps: StartDeliveryDeps): DeliveryWorker {
  const { config, store, masterKey } = deps;
  const now = deps.now ?? Date.now;
  return new DeliveryWorker({
    store,
    masterKey,
    resolver: deps.resolver,
    stsCache: createDatabaseStsPolicyCache(store.db),
    security: outboundOptions(config, deps.extraCa),
    settings: {
      batchSize: config.delivery.batchSize,
      leaseMs: config.delivery.leaseMs,
      staleMs: config.delivery.staleMs,
      retryWindowMs: config.delivery.retryWindowMs,
      retryBaseMs: config.delivery.retryMinMs,
      concurrency: config.delivery.concurrency,
      destinationConcurrency: config.delivery.destinationConcurrency,
      initialConcurrency: config.delivery.initialConcurrency,
      hostConcurrency: config.delivery.hostConcurrency,
      pipelineDepth: config.delivery.pipelineDepth,
      idleMs: IDLE_MS,
      // RSA signatures (0.26 ms of CPU each on the CI machine kind) on a thread beside the
      // event loop when there is a second core. Measured (bench, 8,000 messages, 2 cores):
      // 1,530 -> 2,150 msg/s; CPU per message 0.67 -> 0.71 ms before the requests were
      // batched (signing-threads.ts), 0.64 ms after.
      signingThreads: availableParallelism() > 1 ? 1 : 0,
    },
    signingKeys: async (accountId) => {
      const account = await findAccountById(store.db, accountId);
      if (account === undefined) return [];
      return dkimSigningKeys({ store, masterKey }, account);
    },
    // A message that became complete with undelivered recipients: its notice is due at once.
    onMessageUndelivered: async (messageId) => {
      await sendDueNotices(
        {
          store,
          masterKey,
          hostname: config.hostname,
          now,
          digestMs: config.notices.digestMs,
          retryWindowMs: config.delivery.retryWindowMs,
          logger: deps.logger,
        },
        [messageId],
      );
    },
    logger: deps.logger,
    now,
    observeAttempts: deps.observeAttempts,
  });
}

export function startDeliveryWorker(deps: StartDeliveryDeps): DeliveryWorker {
  const worker = createDeliveryWorker(deps);
  if (deps.autoStart !== false) worker.start();
  return worker;
}
