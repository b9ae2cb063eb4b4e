// One recipient's DSN entry, read as a delivery report for the recipient lifecycle: which
// action is a bounce, which a delay, which bounce is hard, and the detail line. What a
// report may change is the lifecycle's rule (src/recipients/reports.ts).

import { applyReport, type DeliveryReport, type ReportResult } from '../recipients/reports.ts';
import type { Db } from '../store/database.ts';
import type { DsnAction } from './delivery-status.ts';

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

export type BounceResult = ReportResult;

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

/**
 * A hard bounce says the address itself is bad (RFC 3463): 5.1.x addressing status
 * (no such mailbox, no such domain, moved) or 5.2.1 (mailbox disabled). Other permanent
 * failures, such as 5.7.1 (rejected by policy, often spam filtering) or 5.2.2 (mailbox full),
 * fail the one message without condemning the address for every later one.
 */
export function isHardBounce(status: string | null): boolean {
  if (status === null) return false;
  return /^5\.1\.\d{1,3}$/.test(status) || status === '5.2.1';
}

export async function applyBounce(db: Db, event: BounceEvent): Promise<BounceResult> {
  return applyReport(db, {
    recipientId: event.recipientId,
    kind: reportKind(event.action),
    detail: bounceDetail(event),
    hardBounce: isHardBounce(event.status),
    ...(event.accountIds === undefined ? {} : { accountIds: event.accountIds }),
    at: event.at,
  });
}

/** What a DSN action means for the recipient's life (src/recipients/transitions.ts). */
function reportKind(action: DsnAction): DeliveryReport['kind'] {
  switch (action) {
    case 'failed':
      return 'bounce';
    case 'delayed':
      return 'delay';
    case 'delivered':
    case 'relayed':
    case 'expanded':
      return 'other';
    default: {
      const never: never = action;
      throw new Error(`unknown DSN action ${String(never)}`);
    }
  }
}
