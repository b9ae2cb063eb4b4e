// A data subject's access (GDPR art. 15): everything one account holds about one address, as
// one JSON document the account owner can hand over: the messages to it, from it or naming
// it (with subject and body while they are still kept), each recipient's state with its
// attempts and their whole evidence, the suppression entry, the bounces received, the
// webhook events and the notices. Sealed content is opened for it (scope.ts); nothing is
// changed.

import { open } from '../secrets/sealed-box.ts';
import { openKeptMessage, openNotice, openSubject } from '../secrets/sealed-content.ts';
import type { Db } from '../store/database.ts';
import { listAttempts } from '../store/messages.repository.ts';
import type { Account } from '../store/schema.ts';
import { findScope } from './scope.ts';

/** Messages in one answer at most; more are said with `truncated` (an account's own sender address can have millions). */
export const MAX_ACCESS_MESSAGES = 5_000;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function parsed(json: string | null): unknown {
  if (json === null) return null;
  try {
    return JSON.parse(json);
  } catch {
    return json;
  }
}

export async function dataSubjectAccess(
  deps: { db: Db; masterKey: Buffer; now: () => number },
  account: Account,
  address: string,
) {
  const scope = await findScope(deps, account.id, address);
  const truncated = scope.messages.length > MAX_ACCESS_MESSAGES;
  const messages = scope.messages.slice(-MAX_ACCESS_MESSAGES);
  const shown = messages.flatMap((m) =>
    m.recipients.filter((r) => m.role.sender || r.address.toLowerCase() === address),
  );
  const attempts = new Map<string, unknown[]>();
  for (const a of await listAttempts(
    deps.db,
    shown.map((r) => r.id),
  )) {
    attempts.set(a.recipient_id, [
      ...(attempts.get(a.recipient_id) ?? []),
      {
        id: a.id,
        started_at: iso(a.started_at),
        ended_at: iso(a.ended_at),
        verdict: a.verdict,
        reason: a.reason,
        mx_host: a.mx_host,
        reply: a.reply,
        evidence: parsed(a.evidence_json),
      },
    ]);
  }
  return {
    address,
    domain: account.domain,
    generated_at: iso(deps.now()),
    notification_address: account.notification_email.toLowerCase() === address,
    truncated,
    messages: messages.map(({ row, role, recipients }) => {
      const body =
        row.body_sealed === null
          ? null
          : open(deps.masterKey, 'message-body', row.id, Buffer.from(row.body_sealed, 'base64'));
      return {
        id: row.id,
        kind: row.kind,
        role: Object.entries(role)
          .filter(([, yes]) => yes)
          .map(([name]) => name),
        message_id: row.message_id_header,
        sender: row.sender,
        subject: openSubject(deps.masterKey, row.id, row.subject_sealed),
        created_at: iso(row.created_at),
        completed_at: iso(row.completed_at),
        size: row.size,
        body_kept: body !== null,
        body: body?.toString('utf8') ?? null,
        // A message from the address shows every recipient; one to it only the address's own.
        recipients: recipients
          .filter((r) => role.sender || r.address.toLowerCase() === address)
          .map((r) => ({
            id: r.id,
            address: r.address,
            status: r.status,
            reason: r.reason,
            detail: r.detail,
            attempts: r.attempts,
            created_at: iso(r.created_at),
            final_at: iso(r.final_at),
            attempt_history: attempts.get(r.id) ?? [],
          })),
      };
    }),
    suppressions: [scope.suppressions.clear, scope.suppressions.digest]
      .filter((s) => s !== undefined)
      .map((s) => ({
        entry: s.address === address ? 'address' : 'keyed digest (kept after an earlier erasure)',
        reason: s.reason,
        detail: s.detail,
        created_at: iso(s.created_at),
      })),
    bounces: scope.inbound.map((row) => ({
      id: row.id,
      received_at: iso(row.received_at),
      kind: row.kind,
      mail_from: row.mail_from,
      recipient_id: row.recipient_id,
      outcome: row.outcome,
      report: parsed(row.report_json),
      content: openKeptMessage(deps.masterKey, row)?.toString('utf8') ?? null,
      content_truncated: row.raw_truncated === 1,
    })),
    webhook_events: scope.webhookEvents.map((e) => ({
      id: e.id,
      type: e.type,
      state: e.state,
      created_at: iso(e.created_at),
      finished_at: iso(e.finished_at),
      payload: parsed(e.payload),
    })),
    account_notices: scope.notices.map((n) => {
      const text = openNotice(deps.masterKey, n);
      return {
        id: n.id,
        kind: n.kind,
        recipient: n.recipient,
        created_at: iso(n.created_at),
        sent_at: iso(n.sent_at),
        subject: text.subject,
        body: text.body,
      };
    }),
  };
}

export type DataSubjectAccess = Awaited<ReturnType<typeof dataSubjectAccess>>;
