// The life of a recipient as one table: which event moves a recipient from which state to
// which. Every change of a recipient row goes through src/recipients, which takes the new
// state from here; test/recipients/transitions.test.ts runs every cell (and every empty one)
// against a real store, so the table cannot say something the code does not do.
//
// TRANSITIONS below is that table, one row per state; docs/architecture.md shows it as a
// matrix (a test keeps the two equal).
//
// A final state never changes again, with one exception: `delivered` may become `bounced`,
// because a remote server can accept a message and fail to deliver it later (a DSN).
// `expunged` is retention deleting a completed message with its recipients and evidence; a
// message is complete only when every recipient is final.
//
// `cancelled` and `erased` are a data subject's erasure (src/privacy/erasure.ts): waiting
// recipients are cancelled first, then every final one is anonymised in place.
//
// Outbox: where allowed, the events APPENDS_EVENT marks append a webhook event named after
// the new state, in the same transaction as the change.

import type { RecipientStatus } from '../vocabulary/recipient-statuses.ts';

export type RecipientEvent =
  /** Submitted (or queued as a notification) and due now. */
  | 'accepted'
  /** Submitted, but the address is on the account's suppression list: final at once. */
  | 'suppressed'
  /** A worker leases it for an attempt; the state stays, the lease says who holds it. */
  | 'claimed'
  /** The recipient's server accepted the message. */
  | 'delivered'
  /** The security policy refused the recipient's domain: nothing was sent. */
  | 'refused'
  /** A temporary failure; it is tried again later. */
  | 'deferred'
  /** A temporary failure after the retry window: no more attempts. */
  | 'expired'
  /** Our side could not send it (message unavailable, address not writable to that server). */
  | 'failed'
  /** The recipient's server refused it permanently (a 5xx reply). */
  | 'rejected'
  /** A delivery report (DSN) from the recipient's side says delivery failed. */
  | 'bounce-reported'
  /** A delivery report says delivery is delayed: only the detail changes. */
  | 'delay-reported'
  /** Retention deletes the completed message with its recipients and their evidence. */
  | 'expunged'
  /**
   * The data subject's data is erased (src/privacy/erasure.ts) while the recipient is still
   * waiting: it is never tried again and ends `failed` (reason `erasure-requested`). Not
   * while a worker holds its lease: the erasure waits for that attempt to end first.
   */
  | 'cancelled'
  /**
   * The data subject's data is erased from a final recipient: its address, detail and the
   * address in its attempts are replaced, its state stays (so counts stay right).
   */
  | 'erased';

/** Before acceptance there is no row; after expunging there is none again. */
export type RecipientPosition = 'new' | RecipientStatus | 'gone';

/** What one attempt can end with: the events the worker records. */
export type AttemptEvent = 'delivered' | 'refused' | 'deferred' | 'expired' | 'failed' | 'rejected';

const ATTEMPT_OUTCOMES = {
  delivered: 'delivered',
  refused: 'refused_insecure',
  deferred: 'deferred',
  expired: 'expired',
  failed: 'failed',
  rejected: 'bounced',
} as const satisfies Record<AttemptEvent, RecipientStatus>;

const EXPUNGED = { expunged: 'gone' } as const;
const CANCELLED = { cancelled: 'failed' } as const;

export const TRANSITIONS: Readonly<
  Record<RecipientPosition, Readonly<Partial<Record<RecipientEvent, RecipientPosition>>>>
> = {
  new: { accepted: 'queued', suppressed: 'suppressed' },
  queued: {
    claimed: 'queued',
    ...ATTEMPT_OUTCOMES,
    'bounce-reported': 'bounced',
    'delay-reported': 'queued',
    ...CANCELLED,
  },
  deferred: {
    claimed: 'deferred',
    ...ATTEMPT_OUTCOMES,
    'bounce-reported': 'bounced',
    'delay-reported': 'deferred',
    ...CANCELLED,
  },
  delivered: { 'bounce-reported': 'bounced', ...EXPUNGED, erased: 'delivered' },
  refused_insecure: { ...EXPUNGED, erased: 'refused_insecure' },
  bounced: { ...EXPUNGED, erased: 'bounced' },
  failed: { ...EXPUNGED, erased: 'failed' },
  expired: { ...EXPUNGED, erased: 'expired' },
  suppressed: { ...EXPUNGED, erased: 'suppressed' },
  gone: {},
};

/**
 * Whether an allowed event appends a webhook event (named after the new state) to the
 * outbox: `accepted` does not (queued is no event type), nor do the changes that give no
 * new state.
 */
export const APPENDS_EVENT: Readonly<Record<RecipientEvent, boolean>> = {
  accepted: false,
  suppressed: true,
  claimed: false,
  delivered: true,
  refused: true,
  deferred: true,
  expired: true,
  failed: true,
  rejected: true,
  'bounce-reported': true,
  'delay-reported': false,
  expunged: false,
  // An event would carry the address the erasure takes out, to the account that asked for it.
  cancelled: false,
  erased: false,
};

/** The state `event` leads to from `from`, or undefined when the event may not happen there. */
export function nextPosition(
  from: RecipientPosition,
  event: RecipientEvent,
): RecipientPosition | undefined {
  return TRANSITIONS[from][event];
}

/** The state a recipient leaves `from` for on `event`, when that is a state (not `gone`). */
export function nextStatus(
  from: RecipientPosition,
  event: RecipientEvent,
): RecipientStatus | undefined {
  const to = nextPosition(from, event);
  return to === undefined || to === 'new' || to === 'gone' ? undefined : to;
}

/**
 * The state an attempt's outcome gives a claimed recipient. Only queued and deferred
 * recipients can be claimed, and both rows of the table agree on every attempt event.
 */
export function attemptStatus(event: AttemptEvent): RecipientStatus {
  return ATTEMPT_OUTCOMES[event];
}

/** The states `event` may happen in (the table's rows that have a cell for it). */
export function statesAllowing(event: RecipientEvent): RecipientStatus[] {
  return (Object.keys(TRANSITIONS) as RecipientPosition[]).filter(
    (from): from is RecipientStatus =>
      from !== 'new' && from !== 'gone' && TRANSITIONS[from][event] !== undefined,
  );
}
