// `securemail accounts list|show`: every client's sending domains, as the operator sees them
// (GET /account shows one tenant its own). Read straight from the database: no running
// service is needed, and nothing is changed (an account older than onboarding is shown with
// what it has, not given keys as GET /account would).

import type { Logger } from 'pino';
import { accountView } from '../accounts/accounts-service.ts';
import type { AccountRecords } from '../accounts/dns-records.ts';
import type { Config } from '../config.ts';
import { openReadyStore } from '../service.ts';
import type { Db } from '../store/database.ts';
import { listDkimKeys } from '../store/dkim-keys.repository.ts';
import { findDomainCheck } from '../store/domain-checks.repository.ts';
import {
  countSuppressions,
  findAccountsFor,
  listAllAccounts,
  type OperatorAccount,
} from '../store/operator.repository.ts';
import type { AccountState, DomainCheck } from '../store/schema.ts';
import { oneOf, parseSubcommand } from './args.ts';
import {
  formatFields,
  formatTable,
  iso,
  isoOrDash,
  noPositionals,
  onlyPositional,
  printJson,
  shorten,
} from './output.ts';

const STATES: readonly AccountState[] = ['unverified', 'valid', 'failed'];

export async function runAccountsCommand(
  args: string[],
  config: Config,
  logger: Logger,
): Promise<number> {
  const { sub, values, positionals } = parseSubcommand('accounts', args, ['list', 'show'], {
    client: { type: 'string' },
    state: { type: 'string' },
    json: { type: 'boolean' },
  });
  const state = oneOf('state', values.state, STATES);
  if (sub === 'list') noPositionals(positionals, 'accounts list [--client C] [--state S] [--json]');
  const wanted =
    sub === 'show' ? onlyPositional(positionals, 'accounts show DOMAIN|ACCOUNT_ID') : '';

  const { store } = await openReadyStore(config, logger);
  try {
    const suppressed = await countSuppressions(store.db);
    const json = values.json === true;
    if (sub === 'list')
      return await listAccounts(store.db, { clientId: values.client, state }, suppressed, json);
    return await showAccounts(store.db, config, wanted, suppressed, json);
  } finally {
    await store.close();
  }
}

async function listAccounts(
  db: Db,
  filter: { clientId: string | undefined; state: AccountState | undefined },
  suppressed: Map<string, number>,
  json: boolean,
): Promise<number> {
  const accounts = await listAllAccounts(db, filter);
  const rows = accounts.map((a) => ({
    ...accountJson(a),
    suppressions: suppressed.get(a.id) ?? 0,
  }));
  if (json) {
    printJson(rows);
  } else if (rows.length === 0) {
    console.log('no accounts');
  } else {
    console.log(
      formatTable(
        ['DOMAIN', 'STATE', 'POLICY', 'CLIENT', 'NOTIFICATIONS', 'LAST CHECK', 'CREATED'],
        accounts.map((a) => [
          a.domain,
          a.state,
          a.policy_level,
          `${a.client_name} (${a.client_id})`,
          a.notification_email,
          a.last_checked_at === null
            ? 'never'
            : `${isoOrDash(a.last_checked_at)} ${a.last_outcome}`,
          isoOrDash(a.created_at),
        ]),
      ),
    );
  }
  return 0;
}

async function showAccounts(
  db: Db,
  config: Config,
  wanted: string,
  suppressed: Map<string, number>,
  json: boolean,
): Promise<number> {
  const accounts = await findAccountsFor(db, wanted.toLowerCase().replace(/\.$/, ''));
  if (accounts.length === 0) {
    console.error(`securemail: no account ${wanted}`);
    return 1;
  }
  const shown = [];
  for (const account of accounts) {
    const keys = await listDkimKeys(db, account.id);
    const check = (await findDomainCheck(db, account.id)) ?? blankCheck(account);
    const view = accountView(account, config, keys, check);
    shown.push({
      ...accountJson(account),
      suppressions: suppressed.get(account.id) ?? 0,
      receiving_dns_records: view.receiving_dns_records,
      sending_dns_records: view.sending_dns_records,
    });
  }
  if (json) {
    printJson(shown);
    return 0;
  }
  console.log(shown.map(showText).join('\n\n'));
  return 0;
}

/** The same keys in `list` and `show`, snake_case, times ISO. */
function accountJson(a: OperatorAccount) {
  return {
    id: a.id,
    domain: a.domain,
    state: a.state,
    policy_level: a.policy_level,
    notification_email: a.notification_email,
    bounce_subdomain: `${a.bounce_subdomain}.${a.domain}`,
    client_id: a.client_id,
    client_name: a.client_name,
    created_at: iso(a.created_at),
    updated_at: iso(a.updated_at),
    verification: {
      last_checked_at: iso(a.last_checked_at),
      last_outcome: a.last_outcome,
      next_check_at: a.state === 'failed' ? null : iso(a.next_check_at),
    },
  };
}

type Shown = ReturnType<typeof accountJson> & AccountRecords & { suppressions: number };

function showText(a: Shown): string {
  const v = a.verification;
  const head = formatFields([
    ['account', a.id],
    ['domain', `${a.domain} (${a.state})`],
    ['client', `${a.client_name} (${a.client_id})`],
    ['policy level', a.policy_level],
    ['notifications', a.notification_email],
    ['bounce domain', a.bounce_subdomain],
    ['created', a.created_at ?? '-'],
    [
      'last check',
      v.last_checked_at === null ? 'never' : `${v.last_checked_at} ${v.last_outcome ?? ''}`,
    ],
    ['next check', v.next_check_at ?? '-'],
    ['suppressed', `${a.suppressions} address(es)`],
  ]);
  const s = a.sending_dns_records;
  const records = [...a.receiving_dns_records.mx, s.spf, ...s.dkim, s.dmarc, s.ses];
  const table = formatTable(
    ['STATUS', 'TYPE', 'HOSTNAME', 'VALUE'],
    records.map((r) => [
      r.status,
      r.type,
      r.hostname,
      `${r.priority === undefined ? '' : `${r.priority} `}${shorten(r.value, 60)}`,
    ]),
  );
  const details = records
    .filter((r) => r.detail !== undefined && r.status !== 'success')
    .map((r) => `  ${r.hostname} ${r.type}: ${r.detail}`);
  return [head, '', 'DNS records:', table, ...(details.length > 0 ? ['', ...details] : [])].join(
    '\n',
  );
}

/** An account older than onboarding has no schedule row yet; shown as never checked. */
function blankCheck(account: OperatorAccount): DomainCheck {
  return {
    account_id: account.id,
    results: '{}',
    attempts: 0,
    window_started_at: account.created_at,
    next_check_at: account.created_at,
    last_checked_at: null,
    last_outcome: null,
    last_valid_at: null,
  };
}
