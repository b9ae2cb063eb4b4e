// The states a recipient can be in, in one list: the API schemas, the store's row type, the
// outbox's event types and the lifecycle rules (src/recipients/transitions.ts) all take them
// from here. Which state may follow which is the lifecycle's business, not this file's.

/** Every status, in the order the API documents them. */
export const RECIPIENT_STATUSES = [
  'queued',
  'deferred',
  'delivered',
  'refused_insecure',
  'bounced',
  'failed',
  'expired',
  'suppressed',
] as const;

export type RecipientStatus = (typeof RECIPIENT_STATUSES)[number];

/** Waiting for (another) attempt: the worker may claim these. */
export const OPEN_STATUSES = ['queued', 'deferred'] as const satisfies readonly RecipientStatus[];

/** Every status but the open ones: a recipient in one of these has its answer; see src/recipients/transitions.ts for the one exception. */
export const FINAL_STATUSES: readonly RecipientStatus[] = RECIPIENT_STATUSES.filter(
  (status) => !(OPEN_STATUSES as readonly RecipientStatus[]).includes(status),
);

/** Final states the sender is told about by a notification (suppressed ones were at submission). */
export const UNDELIVERED_STATUSES = [
  'refused_insecure',
  'bounced',
  'failed',
  'expired',
] as const satisfies readonly RecipientStatus[];

export function isFinal(status: RecipientStatus): boolean {
  return FINAL_STATUSES.includes(status);
}
