// Delivery reports from the recipient's side (DSNs, received by the bounce MX): what a report
// may change is the transition table's `bounce-reported` and `delay-reported`. A final
// recipient stays final, with one exception: `delivered` may become `bounced`, because a
// remote server can accept a message and fail to deliver it later. A hard bounce of an
// account's own message also puts the address on the account's suppression list.

import { recordEndedRecipients } from '../outbox/recipient-notices.ts';
import { recordRecipientEvent } from '../outbox/webhook-events.ts';
import { type Db, inTransaction } from '../store/database.ts';
import { completeIfFinal, isComplete } from '../store/delivery.repository.ts';
import {
  findReportedRecipient,
  setFinalAfterReport,
  setRecipientDetail,
} from '../store/recipients.repository.ts';
import { isErasedAddress } from './erasure.ts';
import { suppressAddress } from './suppression.ts';
import { nextStatus } from './transitions.ts';

/** The detail of a bounce reported for a recipient whose data was erased. */
const ERASED_DETAIL =
  "bounce reported; its diagnostic is not kept: the recipient's data was erased";

/** Reason code of recipients bounced by a report (the remote accepted, then failed). */
export const REPORTED_BOUNCE_REASON = 'remote-bounce';

export interface DeliveryReport {
  recipientId: string;
  /**
   * `bounce`: delivery failed; `delay`: delivery is delayed; `other`: delivered, relayed or
   * expanded, which changes nothing.
   */
  kind: 'bounce' | 'delay' | 'other';
  /** What the report said, as one line for the recipient's `detail`. */
  detail: string;
  /** Whether the report says the address itself is bad: it is then suppressed. */
  hardBounce: boolean;
  /** When given, the recipient must belong to one of these accounts (the bounce domain's). */
  accountIds?: readonly string[];
  at: number;
}

export type ReportOutcome =
  /** The recipient became `bounced`. */
  | 'bounced'
  /** A delay was reported for a recipient we are still retrying; its detail was updated. */
  | 'delay_recorded'
  /** Reported only (delivered/relayed/expanded, or a delay after we handed the message over). */
  | 'recorded'
  /** The recipient was already final; nothing changed. */
  | 'ignored_final'
  | 'not_found';

export interface ReportResult {
  outcome: ReportOutcome;
  accountId: string | null;
  messageId: string | null;
  suppressed: boolean;
}

/** Applies one report to its recipient, in one transaction with its suppression and event. */
export async function applyReport(db: Db, report: DeliveryReport): Promise<ReportResult> {
  return inTransaction(db, async (trx) => {
    const row = await findReportedRecipient(trx, report.recipientId);
    if (
      row === undefined ||
      (report.accountIds !== undefined && !report.accountIds.includes(row.accountId))
    ) {
      return { outcome: 'not_found', accountId: null, messageId: null, suppressed: false };
    }
    const base = { accountId: row.accountId, messageId: row.messageId };

    switch (report.kind) {
      case 'bounce': {
        const status = nextStatus(row.status, 'bounce-reported');
        if (status === undefined) return { ...base, outcome: 'ignored_final', suppressed: false };
        // The diagnostic of a report about an erased recipient quotes the erased address: the
        // bounce is recorded (state and counts stay right), its wording is not.
        const detail = isErasedAddress(row.address) ? ERASED_DETAIL : report.detail;
        await setFinalAfterReport(trx, row.id, {
          status,
          reason: REPORTED_BOUNCE_REASON,
          detail,
          at: report.at,
        });
        // Our own notifications go out with the null return path; a report about one (from a
        // broken MTA) must not suppress the account's own notification address.
        // An erased recipient's address is gone: there is nothing left to suppress (the
        // erasure kept the suppression entry it had, as a keyed digest).
        const suppressed =
          row.kind === 'message' && report.hardBounce && !isErasedAddress(row.address)
            ? await suppressAddress(trx, {
                accountId: row.accountId,
                address: row.address,
                detail,
                recipientId: row.id,
                at: report.at,
              })
            : false;
        await recordRecipientEvent(trx, {
          accountId: row.accountId,
          messageId: row.messageId,
          recipientId: row.id,
          address: row.address,
          status,
          reason: REPORTED_BOUNCE_REASON,
          detail,
          at: report.at,
        });
        await recordEndedRecipients(trx, [
          {
            recipientId: row.id,
            messageId: row.messageId,
            messageKind: row.kind,
            status,
            at: report.at,
          },
        ]);
        return { ...base, outcome: 'bounced', suppressed };
      }
      case 'delay': {
        if (nextStatus(row.status, 'delay-reported') === undefined) {
          return { ...base, outcome: 'recorded', suppressed: false };
        }
        await setRecipientDetail(trx, row.id, report.detail, report.at);
        return { ...base, outcome: 'delay_recorded', suppressed: false };
      }
      case 'other':
        return { ...base, outcome: 'recorded', suppressed: false };
      default: {
        const never: never = report.kind;
        throw new Error(`unknown report kind ${String(never)}`);
      }
    }
  });
}

/**
 * After a report made a recipient final: `completed` when it was the message's last open
 * recipient (the message is now complete), `complete-before` when the message was complete
 * already (the remote server accepted it and reported the failure later), else `open`.
 */
export async function completeAfterReport(
  db: Db,
  messageId: string,
  now: number,
): Promise<'completed' | 'complete-before' | 'open'> {
  if (await completeIfFinal(db, messageId, now)) return 'completed';
  return (await isComplete(db, messageId)) ? 'complete-before' : 'open';
}
