// What happens to a message the bounce MX accepted: it is classified, attributed to the
// recipient its VERP address names, applied to that recipient, and recorded. Nothing is
// dropped silently: whatever cannot be used is stored with the reason, for inspection.

import { randomUUIDv7 } from 'node:crypto';
import { isErasedAddress } from '../recipients/erasure.ts';
import { sealKeptMessage } from '../secrets/sealed-content.ts';
import type { Db } from '../store/database.ts';
import { findBouncedRecipient, insertInboundMessage } from '../store/inbound.repository.ts';
import type { InboundKind } from '../store/inbound.table.ts';
import { applyBounce, type BounceResult } from './apply-bounce.ts';
import { type BounceReport, classifyMessage } from './classify.ts';
import type { DsnRecipientReport } from './delivery-status.ts';

/** `bounce+<recipient id>@...`, the return path the worker gives every recipient. */
const VERP_LOCAL_PART = /^bounce\+([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

export interface AcceptedRecipient {
  address: string;
  /** The accounts whose bounce domain this is (usually one). */
  accountIds: string[];
}

export interface ReceivedMessage {
  mailFrom: string;
  recipients: AcceptedRecipient[];
  remoteAddress: string;
  helo: string;
  /** The message, or its head when it was too large. */
  raw: Buffer;
  size: number;
  /** True when the message was larger than the limit (it is refused, its head kept). */
  oversized: boolean;
  receivedAt: number;
}

export interface ReceiveOptions {
  /** Seals what is kept: a bounce can quote the message it reports on. */
  masterKey: Buffer;
  /** Bytes of the message stored for inspection. */
  keepBytes: number;
  /** Whether that many bytes more may be stored (the total budget); unlimited when omitted. */
  mayKeep?: (bytes: number) => Promise<boolean>;
  /** Called when a recipient became `bounced`, to complete its message and notify. */
  onBounced?: (result: BounceResult & { recipientId: string }) => Promise<void>;
}

export interface ReceiveResult {
  id: string;
  kind: InboundKind;
  outcome: string;
  recipientId: string | null;
}

/** Appended to the outcome of a message whose content the store budget did not allow. */
export const NOT_KEPT_NOTE =
  'content not kept: the inbound store is full (SECUREMAIL_MX_STORE_BYTES)';

/** The recipient id in a VERP address, if it is one. */
export function recipientIdFromVerp(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  const local = at < 0 ? address : address.slice(0, at);
  return VERP_LOCAL_PART.exec(local)?.[1]?.toLowerCase();
}

/** Processes one accepted message, once per accepted recipient address. */
export async function receiveMessage(
  db: Db,
  message: ReceivedMessage,
  options: ReceiveOptions,
): Promise<ReceiveResult[]> {
  const classification = message.oversized
    ? undefined
    : await classifyMessage(message.raw, message.mailFrom);
  const results: ReceiveResult[] = [];
  for (const rcpt of message.recipients) {
    let kind: InboundKind;
    let outcome: string;
    let recipientId: string | null = null;
    let accountId: string | null = rcpt.accountIds[0] ?? null;
    let report: BounceReport | null = null;
    let keep = true;
    if (classification === undefined) {
      kind = 'oversized';
      outcome = `refused: larger than the size limit (${message.size} bytes received)`;
    } else if (classification.kind === 'auto_reply') {
      kind = 'auto_reply';
      outcome = `ignored: automatic reply (${classification.why})`;
      // An out-of-office may carry personal text; it is not needed for anything.
      keep = false;
    } else if (classification.kind === 'unparseable') {
      kind = 'unparseable';
      outcome = classification.problem;
    } else {
      report = classification.report;
      const applied = await attribute(db, rcpt, report, message.receivedAt);
      // A late report about a recipient whose data was erased (docs/privacy.md): it is
      // applied (the state and counts stay right) but neither the report nor the message,
      // which name the erased address, is kept.
      if (applied.erased === true) {
        report = null;
        keep = false;
      }
      kind = applied.recipientId === null ? 'unattributed' : classification.kind;
      outcome = applied.outcome;
      recipientId = applied.recipientId;
      accountId = applied.accountId ?? accountId;
      if (
        applied.result?.outcome === 'bounced' &&
        applied.recipientId !== null &&
        options.onBounced !== undefined
      ) {
        await options.onBounced({ ...applied.result, recipientId: applied.recipientId });
      }
    }
    const id = randomUUIDv7();
    let kept = keep ? message.raw.subarray(0, options.keepBytes) : undefined;
    if (kept !== undefined && options.mayKeep && !(await options.mayKeep(kept.length))) {
      kept = undefined;
      outcome = `${outcome} (${NOT_KEPT_NOTE})`;
    }
    await insertInboundMessage(db, {
      id,
      received_at: message.receivedAt,
      mail_from: message.mailFrom,
      rcpt_to: rcpt.address,
      remote_address: message.remoteAddress,
      helo: message.helo,
      size: message.size,
      kind,
      account_id: accountId,
      recipient_id: recipientId,
      report_json: report === null ? null : JSON.stringify(report),
      outcome,
      // Sealed like the message bodies: a bounce can quote the message it reports on, and a
      // reply carries whatever its writer put in it. The budget counts the bytes kept.
      raw_sealed: kept === undefined ? null : sealKeptMessage(options.masterKey, id, kept),
      raw_truncated:
        kept !== undefined && (message.oversized || kept.length < message.raw.length) ? 1 : 0,
      raw_bytes: kept?.length ?? 0,
    });
    results.push({ id, kind, outcome, recipientId });
  }
  return results;
}

async function attribute(
  db: Db,
  rcpt: AcceptedRecipient,
  report: BounceReport,
  at: number,
): Promise<{
  recipientId: string | null;
  accountId?: string;
  outcome: string;
  result?: BounceResult;
  erased?: boolean;
}> {
  const id = recipientIdFromVerp(rcpt.address);
  if (id === undefined) return { recipientId: null, outcome: 'not a VERP bounce address' };
  const recipient = await findBouncedRecipient(db, id);
  if (recipient === undefined || !rcpt.accountIds.includes(recipient.accountId)) {
    return { recipientId: null, outcome: 'no such recipient for this bounce domain' };
  }
  // An erased recipient's address matches no entry: a report with one entry is still its own.
  const entry = pickEntry(report.recipients, recipient.address);
  if (entry === undefined) {
    return {
      recipientId: null,
      outcome: 'the report lists several recipients, none of them the one this address names',
    };
  }
  const result = await applyBounce(db, {
    recipientId: recipient.id,
    action: entry.action,
    status: entry.status,
    diagnostic: entry.diagnostic,
    reportingMta: report.reportingMta,
    accountIds: rcpt.accountIds,
    at,
  });
  const outcome = `${entry.action}${entry.status === null ? '' : ` ${entry.status}`}: ${result.outcome.replace('_', ' ')}${result.suppressed ? ', address suppressed' : ''}`;
  return {
    recipientId: recipient.id,
    accountId: recipient.accountId,
    outcome,
    result,
    erased: isErasedAddress(recipient.address),
  };
}

/** The report entry about `address`; with one entry, that one (MTAs rewrite addresses). */
function pickEntry(entries: DsnRecipientReport[], address: string): DsnRecipientReport | undefined {
  const lower = address.toLowerCase();
  const exact = entries.find((e) => e.finalRecipient === lower || e.originalRecipient === lower);
  if (exact !== undefined) return exact;
  return entries.length === 1 ? entries[0] : undefined;
}
