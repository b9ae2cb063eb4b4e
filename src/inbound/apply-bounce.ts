// Applies one recipient's delivery report to its recipient row: the rule of what a DSN may
// change. A recipient that is final stays final, with one exception: `delivered` may become
// `bounced`, because a remote server can accept a message and fail to deliver it later.

import { recordRecipientEvent } from '../notify/events.ts';
import type { Db } from '../store/database.ts';
import { FINAL_STATUSES } from '../vocabulary/recipient-statuses.ts';
import type { DsnAction } from './delivery-status.ts';
import { isHardBounce, suppressAddress } from './suppression.ts';

/** Reason code of recipients bounced by a DSN (the remote accepted, then failed). */
export const DSN_BOUNCE_REASON = 'remote-bounce';
const MAX_DETAIL_LENGTH = 1000;

export interface BounceEvent {
  recipientId: string;
  action: DsnAction;
  /** Enhanced status code, e.g. `5.1.1`. */
  status: string | null;
  diagnostic: string | null;
  reportingMta: string | null;
  /** When given, the recipient must belong to one of these accounts (the bounce domain's). */
  accountIds?: readonly string[];
  at: number;
}

export type BounceOutcome =
  /** The recipient became `bounced`. */
  | 'bounced'
  /** A delay was reported for a recipient we are still retrying; its detail was updated. */
  | 'delay_recorded'
  /** Reported only (delivered/relayed/expanded, or a delay after we handed the message over). */
  | 'recorded'
  /** The recipient was already final; nothing changed. */
  | 'ignored_final'
  | 'not_found';

export interface BounceResult {
  outcome: BounceOutcome;
  accountId: string | null;
  messageId: string | null;
  suppressed: boolean;
}

/** What a DSN reported, as one line for the recipient's `detail`. */
export function bounceDetail(
  event: Pick<BounceEvent, 'status' | 'diagnostic' | 'reportingMta'>,
): string {
  const parts = [
    event.status ?? undefined,
    event.diagnostic ?? 'no diagnostic given',
    event.reportingMta === null ? undefined : `(reported by ${event.reportingMta})`,
  ];
  return parts
    .filter((p) => p !== undefined)
    .join(' ')
    .slice(0, MAX_DETAIL_LENGTH);
}

export async function applyBounce(db: Db, event: BounceEvent): Promise<BounceResult> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('recipients')
      .innerJoin('messages', 'messages.id', 'recipients.message_id')
      .select([
        'recipients.id',
        'recipients.address',
        'recipients.status',
        'recipients.message_id',
        'messages.account_id',
        'messages.kind',
      ])
      .where('recipients.id', '=', event.recipientId)
      .executeTakeFirst();
    if (
      row === undefined ||
      (event.accountIds !== undefined && !event.accountIds.includes(row.account_id))
    ) {
      return { outcome: 'not_found', accountId: null, messageId: null, suppressed: false };
    }
    const base = { accountId: row.account_id, messageId: row.message_id };
    const final = FINAL_STATUSES.includes(row.status);
    const detail = bounceDetail(event);

    switch (event.action) {
      case 'failed': {
        if (final && row.status !== 'delivered') {
          return { ...base, outcome: 'ignored_final', suppressed: false };
        }
        await trx
          .updateTable('recipients')
          .set({
            status: 'bounced',
            reason: DSN_BOUNCE_REASON,
            detail,
            // A worker still holding the lease loses it, so it cannot overwrite the bounce.
            lease_owner: null,
            lease_until: null,
            updated_at: event.at,
            final_at: event.at,
          })
          .where('id', '=', row.id)
          .execute();
        // Our own notifications go out with the null return path; a report about one (from a
        // broken MTA) must not suppress the account's own notification address.
        const suppressed =
          row.kind === 'message' && isHardBounce(event.status)
            ? await suppressAddress(trx, {
                accountId: row.account_id,
                address: row.address,
                detail,
                recipientId: row.id,
                at: event.at,
              })
            : false;
        await recordRecipientEvent(trx, {
          accountId: row.account_id,
          messageId: row.message_id,
          recipientId: row.id,
          address: row.address,
          status: 'bounced',
          reason: DSN_BOUNCE_REASON,
          detail,
          at: event.at,
        });
        return { ...base, outcome: 'bounced', suppressed };
      }
      case 'delayed': {
        if (final) return { ...base, outcome: 'recorded', suppressed: false };
        await trx
          .updateTable('recipients')
          .set({ detail, updated_at: event.at })
          .where('id', '=', row.id)
          .execute();
        return { ...base, outcome: 'delay_recorded', suppressed: false };
      }
      case 'delivered':
      case 'relayed':
      case 'expanded':
        return { ...base, outcome: 'recorded', suppressed: false };
      default: {
        const never: never = event.action;
        throw new Error(`unknown DSN action ${String(never)}`);
      }
    }
  });
}
