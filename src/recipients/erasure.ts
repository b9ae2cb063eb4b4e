// A data subject's erasure as the recipient lifecycle sees it (transitions.ts, events
// `cancelled` and `erased`): recipients still waiting are cancelled (never tried again), then
// every final recipient of the address is anonymised in place, its attempts with it. Which
// recipients, and what counts as the address, is decided by src/privacy/erasure.ts; the state
// changes are made here, as every change of a recipient is.
//
// What stays of an erased recipient: its id, message, domain, state, reason, times and its
// attempts' verdicts and evidence of the receiving server (TLS, certificate, DNSSEC), so the
// account's counts and reports stay right. What goes: the address (replaced by
// `[erased]@<domain>`), and the address wherever the detail, a reply or the evidence quoted it.

import { storedAttempts } from '../store/data-subject.repository.ts';
import type { Db } from '../store/database.ts';
import { completeIfFinal } from '../store/delivery.repository.ts';
import {
  anonymiseRecipient,
  cancelUnleasedRecipients,
  rewriteAttempt,
  rewriteMessage,
} from '../store/erasure.repository.ts';
import type { RecipientsTable } from '../store/messages.table.ts';
import { statesAllowing } from './transitions.ts';

/** The reason of a recipient cancelled by an erasure. */
export const ERASURE_REASON = 'erasure-requested';

const ERASED_LOCAL_PART = '[erased]';

/** What an erased recipient's address becomes: not an address anyone has, the domain kept. */
export function erasedAddress(address: string): string {
  return `${ERASED_LOCAL_PART}@${address.slice(address.lastIndexOf('@') + 1).toLowerCase()}`;
}

/** Whether an address is an erased recipient's (nothing may be recorded for it again). */
export function isErasedAddress(address: string): boolean {
  return address.startsWith(`${ERASED_LOCAL_PART}@`);
}

/**
 * Cancels the waiting recipients among `ids` (event `cancelled`) that no worker holds a live
 * lease on, and completes their messages where they were the last open ones. Returns the ids
 * cancelled; the others are final already or being tried right now.
 */
export async function cancelForErasure(
  db: Db,
  ids: readonly string[],
  now: number,
): Promise<string[]> {
  if (ids.length === 0) return [];
  // In the caller's transaction (the erasure's), like every step of an erasure.
  return cancelUnleasedRecipients(db, ids, now, {
    from: statesAllowing('cancelled'),
    status: 'failed',
    reason: ERASURE_REASON,
    detail: "not sent: the recipient's data was erased at the sender's request",
  });
}

/** Completes these messages where every recipient is final (after cancellations). */
export async function completeAfterCancel(
  db: Db,
  messageIds: readonly string[],
  now: number,
): Promise<void> {
  for (const id of messageIds) await completeIfFinal(db, id, now);
}

/**
 * Anonymises a final recipient and its attempts (event `erased`), with `scrub` taking the
 * address out of any text. Returns how many attempts were rewritten, or undefined when the
 * recipient was not final (the event is not allowed there: it must be cancelled first).
 */
export async function eraseRecipient(
  db: Db,
  recipient: RecipientsTable,
  scrub: (text: string) => string,
  now: number,
): Promise<{ attempts: number } | undefined> {
  const changed = await anonymiseRecipient(db, recipient.id, statesAllowing('erased'), {
    address: erasedAddress(recipient.address),
    detail: recipient.detail === null ? null : scrub(recipient.detail),
    now,
  });
  if (!changed) return undefined;
  let attempts = 0;
  for (const attempt of await storedAttempts(db, [recipient.id])) {
    await rewriteAttempt(db, attempt.id, {
      reply: attempt.reply === null ? null : scrub(attempt.reply),
      evidence_json: scrubJson(attempt.evidence_json, recipient.address, scrub),
    });
    attempts++;
  }
  return { attempts };
}

/** The evidence JSON with the recipient member replaced and the address out of every string. */
function scrubJson(json: string, address: string, scrub: (text: string) => string): string {
  const scrubbed = parseScrubbed(json, scrub);
  if (scrubbed === undefined) return scrub(json);
  if (typeof scrubbed === 'object' && scrubbed !== null && 'recipient' in scrubbed) {
    (scrubbed as Record<string, unknown>).recipient = erasedAddress(address);
  }
  return JSON.stringify(scrubbed);
}

/** A JSON text with the address taken out of every string in it (or out of the text, if not JSON). */
export function scrubJsonText(json: string, scrub: (text: string) => string): string {
  const scrubbed = parseScrubbed(json, scrub);
  return scrubbed === undefined ? scrub(json) : JSON.stringify(scrubbed);
}

/** The parsed JSON with `scrub` applied to every string at any depth; undefined if not JSON. */
function parseScrubbed(json: string, scrub: (text: string) => string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return scrub(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, inner]) => [k, walk(inner)]));
    }
    return v;
  };
  return walk(value);
}

/**
 * Rewrites what a message row holds about an erased address (src/privacy/erasure.ts decides
 * what): message rows, like recipient rows, are changed only through this module.
 */
export function eraseMessageContent(
  db: Db,
  messageId: string,
  values: Parameters<typeof rewriteMessage>[2],
): Promise<void> {
  return rewriteMessage(db, messageId, values);
}
