// `securemail suppressions`: the addresses each account no longer sends to (hard bounces and
// manual entries), across every client, so an operator can answer "why did nobody get my
// mail at this address?" without the account's credentials.

import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { openReadyStore } from '../service.ts';
import { listAllSuppressions } from '../store/operator.repository.ts';
import { parseOrThrow } from './args.ts';
import { formatTable, iso, isoOrDash, noPositionals, parseLimit, printJson } from './output.ts';

export async function runSuppressionsCommand(
  args: string[],
  config: Config,
  logger: Logger,
): Promise<number> {
  const { values, positionals } = parseOrThrow(args, {
    domain: { type: 'string' },
    client: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  });
  noPositionals(positionals, 'suppressions [--domain D] [--client C] [--limit N] [--json]');
  const limit = parseLimit(values.limit, 100, 10_000);
  const { store } = await openReadyStore(config, logger);
  try {
    const rows = await listAllSuppressions(store.db, {
      domain: values.domain?.toLowerCase().replace(/\.$/, ''),
      clientId: values.client,
      limit,
    });
    if (values.json === true) {
      printJson(
        rows.map((r) => ({
          account_id: r.account_id,
          account_domain: r.account_domain,
          client_id: r.client_id,
          client_name: r.client_name,
          address: r.address,
          reason: r.reason,
          detail: r.detail,
          recipient_id: r.recipient_id,
          created_at: iso(r.created_at),
        })),
      );
      return 0;
    }
    if (rows.length === 0) {
      console.log('no suppressed addresses');
      return 0;
    }
    console.log(
      formatTable(
        ['ACCOUNT', 'CLIENT', 'ADDRESS', 'REASON', 'SINCE', 'DETAIL'],
        rows.map((r) => [
          r.account_domain,
          r.client_name,
          r.address,
          r.reason,
          isoOrDash(r.created_at),
          r.detail ?? '',
        ]),
      ),
    );
    if (rows.length === limit) console.log(`(the first ${limit}; --limit N for more)`);
    return 0;
  } finally {
    await store.close();
  }
}
