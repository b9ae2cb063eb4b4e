// `securemail inbound ...`: what the bounce MX received, for an operator. Messages that
// could not be used (unparseable, unattributed, oversized) are kept for inspection here.

import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { openKeptMessage } from '../secrets/sealed-content.ts';
import { openReadyStore } from '../service.ts';
import type { Db } from '../store/database.ts';
import {
  findInboundMessage,
  type InboundMessage,
  listInboundMessages,
} from '../store/inbound.repository.ts';
import { INBOUND_KINDS } from '../store/inbound.table.ts';
import { oneOf, parseSubcommand, UsageError } from './args.ts';
import { iso, onlyPositional, printJson } from './output.ts';

export async function runInboundCommand(
  args: string[],
  config: Config,
  logger: Logger,
): Promise<number> {
  const { sub, values, positionals } = parseSubcommand('inbound', args, ['list', 'show'], {
    kind: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  });
  const kind = oneOf('kind', values.kind, INBOUND_KINDS);
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
    throw new UsageError('--limit must be 1 to 10000');
  const id = sub === 'show' ? onlyPositional(positionals, 'inbound show ID') : '';

  const { store, masterKey } = await openReadyStore(config, logger);
  try {
    if (sub === 'show') return await showInbound(store.db, masterKey, id, values.json === true);
    const rows = await listInboundMessages(store.db, {
      ...(kind === undefined ? {} : { kind }),
      limit,
      newestFirst: true,
    });
    if (values.json === true) {
      printJson(rows.map(inboundJson));
      return 0;
    }
    if (rows.length === 0) console.log('nothing received');
    for (const r of rows) {
      console.log(
        `${r.id}  ${new Date(r.received_at).toISOString()}  ${r.kind.padEnd(12)}  ${r.rcpt_to}  ${r.outcome}`,
      );
    }
    return 0;
  } finally {
    await store.close();
  }
}

async function showInbound(db: Db, masterKey: Buffer, id: string, json: boolean): Promise<number> {
  const row = await findInboundMessage(db, id);
  if (row === undefined) {
    console.error(`securemail: no inbound message ${id}`);
    return 1;
  }
  // Kept content is sealed at rest; an operator with the master key reads it here.
  const kept = openKeptMessage(masterKey, row);
  if (json) {
    printJson({ ...inboundJson(row), raw: kept === null ? null : kept.toString('base64') });
    return 0;
  }
  console.log(`id:        ${row.id}\nreceived:  ${new Date(row.received_at).toISOString()}`);
  console.log(
    `from:      <${row.mail_from}> via ${row.remote_address} (${row.helo})\nto:        ${row.rcpt_to}`,
  );
  console.log(
    `kind:      ${row.kind}\noutcome:   ${row.outcome}\nrecipient: ${row.recipient_id ?? '-'}`,
  );
  if (row.report_json !== null) console.log(`report:    ${row.report_json}`);
  console.log(kept === null ? '\n(content not kept)' : `\n${kept.toString('utf8')}`);
  if (row.raw_truncated) console.log('(cut at SECUREMAIL_MX_KEEP_BYTES)');
  return 0;
}

/** A received message's facts as every command's JSON has them: times ISO, the sealed copy left out. */
function inboundJson(row: InboundMessage) {
  const { raw_sealed: _sealed, received_at, raw_truncated, ...meta } = row;
  return { ...meta, received_at: iso(received_at), raw_truncated: raw_truncated === 1 };
}
