// Posts queued webhook events (src/outbox/webhook-events.ts) to their account's endpoint: signed,
// one at a time per ordering line (a recipient's events arrive in the order they happened),
// retried with backoff for `retryHours`, durable because the outbox is the database. An
// endpoint that fails without a single success for `disableAfterHours` is disabled, its
// pending events dropped, and the account is told by a notification.

import { randomUUID } from 'node:crypto';
import { recordAccountNotice } from '../outbox/account-notices.ts';
import { type Db, inTransaction } from '../store/database.ts';
import { findAccountById } from '../store/domain-checks.repository.ts';
import { StorageOutage } from '../store/unavailable.ts';
import {
  disableActiveWebhook,
  dropPendingEvents,
  dueWebhookEvents,
  findWebhook,
  finishWebhookEvent,
  leaseWebhookEvent,
  updateWebhook,
  type Webhook,
  type WebhookEvent,
} from '../store/webhooks.repository.ts';
import type { WebhookConfig } from './settings.ts';
import { postWebhook } from './webhook-http.ts';
import { openWebhookSecret } from './webhook-secrets.ts';
import { SIGNATURE_HEADER, signatureHeader } from './webhook-signing.ts';
import { checkWebhookUrl, type HostLookup, systemLookup } from './webhook-target.ts';

const HOUR_MS = 3_600_000;
export const WEBHOOK_RETRY_BASE_MS = 30_000;
export const WEBHOOK_RETRY_CAP_MS = HOUR_MS;
// Lease beyond the request timeout, so a dispatcher that died frees its events soon.
const LEASE_MARGIN_MS = 30_000;

/** Delay before the next try after `attempts` failed ones: doubling from 30 s, capped at 1 h. */
export function webhookRetryDelay(attempts: number, random: () => number = Math.random): number {
  const exponential = Math.min(
    WEBHOOK_RETRY_CAP_MS,
    WEBHOOK_RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1),
  );
  return Math.round(exponential * (0.5 + random() / 2));
}

export interface DispatcherLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface WebhookDispatcherDeps {
  db: Db;
  masterKey: Buffer;
  config: WebhookConfig;
  /** How webhook host names are resolved; default: the operating system's resolver. */
  lookup?: HostLookup;
  /** Extra CA certificates trusted for webhook endpoints (PEM), added to the bundled roots. */
  ca?: string | readonly string[];
  now?: () => number;
  random?: () => number;
  logger?: DispatcherLogger;
  /** Names this dispatcher's leases; default: random. */
  owner?: string;
  /** Told how the events of each pass went (metrics). */
  onDispatched?: ((summary: DispatchSummary) => void) | undefined;
}

export interface DispatchSummary {
  delivered: number;
  retrying: number;
  failed: number;
  dropped: number;
}

/** One pass over the due events. Exposed for tests and for a CLI "flush". */
export async function dispatchWebhooksOnce(deps: WebhookDispatcherDeps): Promise<DispatchSummary> {
  const now = deps.now ?? Date.now;
  const owner = deps.owner ?? `dispatcher-${randomUUID()}`;
  const summary: DispatchSummary = { delivered: 0, retrying: 0, failed: 0, dropped: 0 };
  const due = await dueWebhookEvents(deps.db, now(), deps.config.concurrency * 4);
  let next = 0;
  const worker = async () => {
    while (next < due.length) {
      const event = due[next++]!;
      const leaseUntil = now() + deps.config.timeoutMs + LEASE_MARGIN_MS;
      if (!(await leaseWebhookEvent(deps.db, event.id, owner, now(), leaseUntil))) continue;
      summary[await deliver(deps, event, owner)] += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.config.concurrency, due.length) }, worker));
  deps.onDispatched?.(summary);
  return summary;
}

async function deliver(
  deps: WebhookDispatcherDeps,
  event: WebhookEvent,
  owner: string,
): Promise<keyof DispatchSummary> {
  const now = deps.now ?? Date.now;
  const webhook = await findWebhook(deps.db, event.account_id);
  if (webhook === undefined || webhook.state !== 'active') {
    await finishWebhookEvent(deps.db, event.id, owner, {
      state: 'dropped',
      attempts: event.attempts,
      next_attempt_at: event.next_attempt_at,
      last_error: 'the account has no active webhook',
      finished_at: now(),
    });
    return 'dropped';
  }

  const check = await checkWebhookUrl(webhook.url, {
    allowPrivate: deps.config.allowPrivate,
    lookup: deps.lookup ?? systemLookup,
  });
  let error: string | undefined;
  if (!check.ok) {
    error = `target refused: ${check.problem}`;
  } else {
    const timestamp = Math.floor(now() / 1000);
    const result = await postWebhook(
      check.target,
      event.payload,
      {
        [SIGNATURE_HEADER]: signatureHeader(
          signingSecrets(deps.masterKey, webhook, now()),
          timestamp,
          event.payload,
        ),
        'securemail-event-id': event.id,
        'securemail-event-type': event.type,
      },
      { timeoutMs: deps.config.timeoutMs, ca: deps.ca },
    );
    if (!result.ok) error = result.error;
  }

  const at = now();
  const attempts = event.attempts + 1;
  if (error === undefined) {
    await finishWebhookEvent(deps.db, event.id, owner, {
      state: 'delivered',
      attempts,
      next_attempt_at: event.next_attempt_at,
      last_error: null,
      finished_at: at,
    });
    await updateWebhook(deps.db, webhook.id, {
      failing_since: null,
      last_error: null,
      last_success_at: at,
    });
    return 'delivered';
  }

  const giveUp = at - event.created_at >= deps.config.retryHours * HOUR_MS;
  await finishWebhookEvent(deps.db, event.id, owner, {
    state: giveUp ? 'failed' : 'pending',
    attempts,
    next_attempt_at: giveUp ? event.next_attempt_at : at + webhookRetryDelay(attempts, deps.random),
    last_error: error,
    finished_at: giveUp ? at : null,
  });
  const failingSince = webhook.failing_since ?? at;
  await updateWebhook(deps.db, webhook.id, { failing_since: failingSince, last_error: error });
  deps.logger?.warn(
    { webhook: webhook.id, event: event.id, attempts, error },
    'webhook delivery failed',
  );
  if (at - failingSince >= deps.config.disableAfterHours * HOUR_MS) {
    await disableWebhook(deps, webhook, at, error);
  }
  return giveUp ? 'failed' : 'retrying';
}

/** The current secret, and the previous one while its overlap lasts. */
function signingSecrets(masterKey: Buffer, webhook: Webhook, now: number): string[] {
  const secrets = [openWebhookSecret(masterKey, webhook.id, 'current', webhook.secret_sealed)];
  if (
    webhook.previous_secret_sealed !== null &&
    webhook.previous_secret_until !== null &&
    now < webhook.previous_secret_until
  ) {
    secrets.push(
      openWebhookSecret(masterKey, webhook.id, 'previous', webhook.previous_secret_sealed),
    );
  }
  return secrets;
}

async function disableWebhook(
  deps: WebhookDispatcherDeps,
  webhook: Webhook,
  at: number,
  error: string,
): Promise<void> {
  await inTransaction(deps.db, async (trx) => {
    // Another dispatcher got here first.
    if (!(await disableActiveWebhook(trx, webhook.id, at))) return;
    const dropped = await dropPendingEvents(trx, webhook.account_id, at, 'webhook disabled');
    const account = await findAccountById(trx, webhook.account_id);
    if (account === undefined) return;
    await recordAccountNotice(trx, deps.masterKey, {
      accountId: webhook.account_id,
      kind: 'webhook_disabled',
      recipient: account.notification_email,
      subject: `Webhook for ${account.domain} disabled`,
      body: [
        `The webhook ${webhook.url} of ${account.domain} failed every delivery for ${deps.config.disableAfterHours} hours and has been disabled.`,
        `Last error: ${error}`,
        `${dropped} pending event(s) were dropped. Fix the endpoint, then register it again with PUT /account/webhook?domain=${account.domain}.`,
      ].join('\n'),
      at,
    });
  });
  deps.logger?.warn(
    { webhook: webhook.id, url: webhook.url },
    'webhook disabled after failing too long',
  );
}

/** Runs `dispatchWebhooksOnce` every `pollMs` (at once again while there is more to do). */
export function startWebhookDispatcher(deps: WebhookDispatcherDeps): { stop(): Promise<void> } {
  const owned = { ...deps, owner: deps.owner ?? `dispatcher-${randomUUID()}` };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  // The database away: said once, tried again after 1, 2, 4, 8, then every 10 s.
  const outage =
    deps.logger === undefined ? undefined : new StorageOutage(deps.logger, 'webhook dispatch');
  const tick = () => {
    running = (async () => {
      let pause = deps.config.pollMs;
      try {
        const summary = await dispatchWebhooksOnce(owned);
        outage?.succeeded();
        const busy = summary.delivered + summary.retrying + summary.failed + summary.dropped > 0;
        if (busy) pause = 0;
      } catch (error) {
        pause = outage?.failed(error) ?? deps.config.pollMs;
      }
      if (!stopped) timer = setTimeout(tick, pause);
    })();
  };
  timer = setTimeout(tick, 0);
  return {
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await running;
    },
  };
}
