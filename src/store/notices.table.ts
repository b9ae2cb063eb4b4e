// Row types of the notice digest (notices.migration.ts): which undelivered recipients the
// sender has not been told about yet, and per message how many notices went out and when.

/** A recipient that ended undelivered and is not in a notice yet (an outbox row). */
export interface PendingNoticesTable {
  recipient_id: string;
  message_id: string;
  /** When the recipient became final: the digest window of its message starts here. */
  ended_at: number;
}

/** Per message with at least one notice: the claim a notice is sent under. */
export interface MessageNoticesTable {
  message_id: string;
  /** Notices sent so far; a claim raises it by one only where it still has the value it read. */
  notice_count: number;
  last_notice_at: number;
}

export interface NoticeTables {
  pending_notices: PendingNoticesTable;
  message_notices: MessageNoticesTable;
}
