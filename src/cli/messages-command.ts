// `securemail messages list|show`: every client's messages as the operator sees them, with
// the filters of GET /messages; one message with each recipient's status, the reason in
// words and a summary of the evidence (GET /message/{id} with the account and client shown).
// Read straight from the database; subjects are opened with the master key.

import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { type AttemptView, attemptHistory } from '../evidence/history.ts';
import { openSubject } from '../secrets/sealed-content.ts';
import { openReadyStore } from '../service.ts';
import type { Db } from '../store/database.ts';
import { countStatuses, listRecipients } from '../store/messages.repository.ts';
import type { RecipientsTable } from '../store/messages.table.ts';
import {
  findAnyMessage,
  listAllMessages,
  type OperatorMessage,
  type OperatorMessageFilter,
} from '../store/operator.repository.ts';
import { reasonInfo } from '../vocabulary/reasons.ts';
import { RECIPIENT_STATUSES } from '../vocabulary/recipient-statuses.ts';
import { oneOf, parseSubcommand } from './args.ts';
import {
  formatFields,
  formatTable,
  iso,
  noPositionals,
  onlyPositional,
  parseLimit,
  parseSince,
  printJson,
  shorten,
} from './output.ts';

const KINDS = ['message', 'notification'] as const;

/**
 * Words for the reasons of our own side (OWN_REASONS), which have no entry in REASONS
 * because there is nothing for a recipient's administrator to change.
 */
const OWN_REASON_WORDS: Readonly<Record<string, string>> = {
  'internal-error':
    'The security check failed inside SecureMail; the recipient is retried (the worker log says why).',
  'message-unavailable':
    'The message could not be read or signed (its body was deleted by retention, or sealed with another master key).',
  suppressed: "The address is on the account's suppression list; nothing was sent.",
};

export async function runMessagesCommand(
  args: string[],
  config: Config,
  logger: Logger,
): Promise<number> {
  const { sub, values, positionals } = parseSubcommand('messages', args, ['list', 'show'], {
    status: { type: 'string' },
    domain: { type: 'string' },
    client: { type: 'string' },
    kind: { type: 'string' },
    since: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  });
  const status = oneOf('status', values.status, RECIPIENT_STATUSES);
  const kind = oneOf('kind', values.kind, KINDS);
  const now = Date.now();
  const since = parseSince(values.since, now);
  const limit = parseLimit(values.limit, 50, 1000);
  if (sub === 'list') noPositionals(positionals, 'messages list [--status S] [--domain D] ...');
  const id = sub === 'show' ? onlyPositional(positionals, 'messages show MESSAGE_ID') : '';

  const { store, masterKey } = await openReadyStore(config, logger);
  try {
    const json = values.json === true;
    if (sub === 'show') return await showMessage(store.db, masterKey, id, json);
    const filter: OperatorMessageFilter = {
      status,
      domain: values.domain?.toLowerCase().replace(/\.$/, ''),
      clientId: values.client,
      kind,
      since,
      limit,
    };
    return await listMessages(store.db, masterKey, filter, json);
  } finally {
    await store.close();
  }
}

async function listMessages(
  db: Db,
  masterKey: Buffer,
  filter: OperatorMessageFilter,
  json: boolean,
): Promise<number> {
  const messages = await listAllMessages(db, filter);
  const counts = await countStatuses(
    db,
    messages.map((m) => m.id),
  );
  const rows = messages.map((m) => ({
    ...messageJson(m, openSubject(masterKey, m.id, m.subject_sealed)),
    recipient_count: m.recipient_count,
    statuses: counts.get(m.id) ?? {},
  }));
  if (json) {
    printJson(rows);
    return 0;
  }
  if (rows.length === 0) {
    console.log('no messages');
    return 0;
  }
  console.log(
    formatTable(
      ['ID', 'ACCEPTED', 'DOMAIN', 'CLIENT', 'KIND', 'RECIPIENTS', 'SUBJECT'],
      rows.map((m) => [
        m.id,
        m.created_at ?? '-',
        m.account_domain,
        m.client_name,
        m.kind,
        Object.entries(m.statuses)
          .map(([s, n]) => `${s} ${n}`)
          .join(', '),
        shorten(m.subject ?? '', 50),
      ]),
    ),
  );
  return 0;
}

async function showMessage(db: Db, masterKey: Buffer, id: string, json: boolean): Promise<number> {
  const message = await findAnyMessage(db, id);
  if (message === undefined) {
    console.error(`securemail: no message ${id}`);
    return 1;
  }
  const recipients = await listRecipients(db, message.id);
  const history = await attemptHistory(
    db,
    recipients.map((r) => r.id),
  );
  const shown = {
    ...messageJson(message, openSubject(masterKey, message.id, message.subject_sealed)),
    size: message.size,
    recipients: recipients.map((r) => recipientJson(r, history.get(r.id) ?? [])),
  };
  if (json) {
    printJson(shown);
    return 0;
  }
  console.log(showText(shown));
  return 0;
}

/** One recipient of `show`, with the reason in words and its attempts. */
function recipientJson(r: RecipientsTable, history: AttemptView[]) {
  const info = reasonInfo(r.reason);
  return {
    address: r.address,
    status: r.status,
    reason: r.reason,
    explanation:
      info?.explanation ?? (r.reason === null ? null : (OWN_REASON_WORDS[r.reason] ?? null)),
    fix: info?.fix ?? null,
    detail: r.detail,
    attempts: r.attempts,
    next_attempt_at: r.final_at === null ? iso(r.next_attempt_at) : null,
    updated_at: iso(r.updated_at),
    final_at: iso(r.final_at),
    history,
  };
}

type Shown = ReturnType<typeof messageJson> & {
  size: number;
  recipients: ReturnType<typeof recipientJson>[];
};

function showText(shown: Shown): string {
  const head = formatFields([
    ['message', shown.id],
    ['kind', shown.kind],
    ['message-id', `<${shown.message_id}>`],
    ['account', `${shown.account_domain} (${shown.account_id})`],
    ['client', `${shown.client_name} (${shown.client_id})`],
    ['sender', shown.sender],
    ['subject', shown.subject ?? '-'],
    ['size', `${shown.size} bytes`],
    ['accepted', shown.created_at ?? '-'],
    ['completed', shown.completed_at ?? 'not yet'],
  ]);
  const blocks = shown.recipients.map((r) => {
    const lines = [
      `${r.address}  ${r.status}${r.reason === null ? '' : ` (${r.reason})`}  attempts: ${r.attempts}` +
        (r.next_attempt_at === null ? '' : `  next: ${r.next_attempt_at}`),
    ];
    if (r.explanation !== null) lines.push(`  why:      ${r.explanation}`);
    if (r.fix !== null) lines.push(`  fix:      ${r.fix}`);
    if (r.detail !== null) lines.push(`  detail:   ${r.detail}`);
    const last = r.history.at(-1);
    if (last !== undefined) lines.push(`  evidence: ${evidenceLine(last)}`);
    for (const attempt of r.history) lines.push(`  attempt:  ${attemptLine(attempt)}`);
    return lines.join('\n');
  });
  return [head, '', ...blocks].join('\n');
}

/** The keys `list` and `show` share; snake_case, times ISO, like GET /message/{id}. */
function messageJson(m: OperatorMessage, subject: string | null) {
  return {
    id: m.id,
    message_id: m.message_id_header,
    kind: m.kind,
    sender: m.sender,
    subject,
    account_id: m.account_id,
    account_domain: m.account_domain,
    client_id: m.client_id,
    client_name: m.client_name,
    created_at: iso(m.created_at),
    completed_at: iso(m.completed_at),
  };
}

/** Where the last attempt went and how that server was authenticated. */
function evidenceLine(a: AttemptView): string {
  const e = a.evidence;
  const parts = [
    e.mx_host === null
      ? 'no mail server reached'
      : `${e.mx_host}${e.ip === null ? '' : ` [${e.ip}]`}`,
  ];
  if (e.authentication !== null) parts.push(`authenticated by ${e.authentication}`);
  if (e.tls_version !== null) parts.push([e.tls_version, e.cipher].filter(Boolean).join(' '));
  if (e.certificate_sha256 !== null)
    parts.push(`certificate sha256 ${e.certificate_sha256.slice(0, 16)}...`);
  if (e.dnssec_mx !== null) parts.push(`MX ${e.dnssec_mx}`);
  if (e.mta_sts !== null) parts.push(`MTA-STS ${e.mta_sts}`);
  return parts.join('; ');
}

function attemptLine(a: AttemptView): string {
  return [a.started_at, a.verdict, a.reason ?? '', a.reply ?? '']
    .filter((p) => p !== '')
    .join('  ');
}
