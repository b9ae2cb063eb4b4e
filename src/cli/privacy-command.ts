// `securemail data-subject show|erase` and `securemail report`: a data subject's access and
// erasure (GDPR art. 15 and 17) and the auditor's report, for an operator, doing exactly what
// GET/DELETE /account/data-subject and GET /account/report do (src/privacy). Tenant-scoped
// like the API: the operator names the client (tenant) that owns the domain, and a domain the
// client does not have is an error, whoever else has it.

import { writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import { dataSubjectAccess } from '../privacy/access.ts';
import { subjectAddress } from '../privacy/address.ts';
import { eraseDataSubject } from '../privacy/erasure.ts';
import { buildReport, reportJson } from '../privacy/report.ts';
import { reportHtml } from '../privacy/report-html.ts';
import { reportPdf } from '../privacy/report-pdf.ts';
import { openReadyStore } from '../service.ts';
import { findAccount } from '../store/accounts.repository.ts';
import type { Store } from '../store/database.ts';
import type { Account } from '../store/schema.ts';
import { parseOrThrow, parseSubcommand, UsageError } from './args.ts';

const DAY_MS = 86_400_000;

/** The client's account for the domain; undefined (said on stderr) when it has none. */
async function ownedAccount(
  store: Store,
  clientId: string,
  domain: string,
): Promise<Account | undefined> {
  const account = await findAccount(store.db, clientId, domain.toLowerCase());
  if (account === undefined)
    console.error(`securemail: client ${clientId} has no account for ${domain}`);
  return account;
}

function address(text: string): string {
  try {
    return subjectAddress(text, '--address');
  } catch (error) {
    if (error instanceof AppError) throw new UsageError(`--address: ${error.message}`);
    throw error;
  }
}

export async function runDataSubjectCommand(
  args: string[],
  config: Config,
  logger: Logger,
): Promise<number> {
  const { sub, values } = parseSubcommand('data-subject', args, ['show', 'erase'], {
    client: { type: 'string' },
    domain: { type: 'string' },
    address: { type: 'string' },
    'wait-seconds': { type: 'string' },
  });
  if (values.client === undefined || values.domain === undefined || values.address === undefined) {
    throw new UsageError(
      `usage: securemail data-subject ${sub} --client ID --domain DOMAIN --address ADDRESS`,
    );
  }
  const subject = address(values.address);
  // An operator can wait for a crashed worker's lease to run out (SECUREMAIL_LEASE_SECONDS).
  const waitSeconds =
    values['wait-seconds'] === undefined
      ? config.delivery.leaseMs / 1000 + 5
      : Number(values['wait-seconds']);
  if (!Number.isInteger(waitSeconds) || waitSeconds < 0 || waitSeconds > 86_400) {
    throw new UsageError('--wait-seconds must be 0 to 86400');
  }
  const { store, masterKey } = await openReadyStore(config, logger);
  try {
    const account = await ownedAccount(store, values.client, values.domain);
    if (account === undefined) return 1;
    if (sub === 'show') {
      const answer = await dataSubjectAccess(
        { db: store.db, masterKey, now: Date.now },
        account,
        subject,
      );
      console.log(JSON.stringify(answer, null, 2));
      return 0;
    }
    try {
      const result = await eraseDataSubject(
        { db: store.db, masterKey, now: Date.now, maxWaitMs: waitSeconds * 1000 },
        { account, address: subject, clientId: account.client_id, via: 'cli' },
      );
      console.log(
        JSON.stringify({ ...result, erased_at: new Date(result.erased_at).toISOString() }, null, 2),
      );
      return 0;
    } catch (error) {
      if (error instanceof AppError && error.code === 'delivery_in_progress') {
        console.error(`securemail: ${error.message}`);
        return 1;
      }
      throw error;
    }
  } finally {
    await store.close();
  }
}

export async function runReportCommand(
  args: string[],
  config: Config,
  logger: Logger,
): Promise<number> {
  const { values } = parseOrThrow(args, {
    client: { type: 'string' },
    domain: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
  });
  if (values.client === undefined || values.domain === undefined) {
    throw new UsageError(
      'usage: securemail report --client ID --domain DOMAIN [--from TIME] [--to TIME] [--format json|html|pdf] [--out FILE]',
    );
  }
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'html' && format !== 'pdf') {
    throw new UsageError('--format must be json, html or pdf');
  }
  if (format === 'pdf' && values.out === undefined)
    throw new UsageError('--format pdf needs --out FILE');
  const time = (text: string, name: string) => {
    const ms = Date.parse(text);
    if (!Number.isFinite(ms)) throw new UsageError(`--${name}: "${text}" is not a time`);
    return ms;
  };
  const now = Date.now();
  const to = values.to === undefined ? now + 1 : time(values.to, 'to');
  const from = values.from === undefined ? to - 30 * DAY_MS : time(values.from, 'from');
  if (from >= to) throw new UsageError('--from must be before --to');

  const { store } = await openReadyStore(config, logger);
  try {
    const account = await ownedAccount(store, values.client, values.domain);
    if (account === undefined) return 1;
    const report = await buildReport(
      { db: store.db },
      account,
      { from, to },
      {
        ...config.delivery,
        inboundRetentionDays: config.inbound.retentionDays,
        ...config.privacy,
      },
    );
    const output =
      format === 'json'
        ? reportJson(report)
        : format === 'html'
          ? reportHtml(report, new Date(now))
          : await reportPdf(report, new Date(now));
    if (values.out === undefined) console.log(output);
    else writeFileSync(values.out, output);
    return 0;
  } finally {
    await store.close();
  }
}
