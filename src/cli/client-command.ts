// `securemail client ...`: OAuth clients are made by the operator, not through the API.

import type { Logger } from 'pino';
import {
  createClient,
  deleteClient,
  listClients,
  rotateClient,
} from '../clients/clients-service.ts';
import type { Config } from '../config.ts';
import { openReadyStore } from '../service.ts';
import { countAccounts } from '../store/clients.repository.ts';
import type { Store } from '../store/database.ts';
import { parseSubcommand, UsageError } from './args.ts';
import { iso, onlyPositional, printJson } from './output.ts';

export async function runClientCommand(
  args: string[],
  config: Config,
  logger: Logger,
): Promise<number> {
  const { sub, values, positionals } = parseSubcommand(
    'client',
    args,
    ['create', 'list', 'rotate', 'delete'],
    {
      name: { type: 'string' },
      quota: { type: 'string' },
      json: { type: 'boolean' },
      force: { type: 'boolean' },
    },
  );
  const json = values.json === true;
  const { store } = await openReadyStore(config, logger);
  try {
    return await run(sub, store, { ...values, json }, positionals);
  } finally {
    await store.close();
  }
}

async function run(
  sub: 'create' | 'list' | 'rotate' | 'delete',
  store: Store,
  values: {
    name?: string | boolean | undefined;
    quota?: string | boolean | undefined;
    json: boolean;
    force?: string | boolean | undefined;
  },
  positionals: string[],
): Promise<number> {
  const now = Date.now();
  switch (sub) {
    case 'create': {
      if (typeof values.name !== 'string' || values.name.trim() === '') {
        throw new UsageError('client create needs --name NAME');
      }
      const quotaLimit = parseQuota(values.quota);
      const created = await createClient(store, { name: values.name.trim(), quotaLimit }, now);
      printCredentials(created, values.json);
      return 0;
    }
    case 'list':
      return listCommand(store, values.json);
    case 'rotate': {
      const id = onlyPositional(positionals, 'client rotate CLIENT_ID');
      const rotated = await rotateClient(store, id, now);
      if (rotated === undefined) return notFound(id);
      printCredentials(rotated, values.json);
      return 0;
    }
    case 'delete': {
      const id = onlyPositional(positionals, 'client delete CLIENT_ID');
      const accounts = await countAccounts(store.db, id);
      if (accounts > 0 && values.force !== true) {
        console.error(
          `securemail: client ${id} owns ${accounts} account(s); add --force to delete them too`,
        );
        return 1;
      }
      if (!(await deleteClient(store, id))) return notFound(id);
      console.log(`deleted client ${id}; its tokens no longer work`);
      return 0;
    }
    default: {
      const never: never = sub;
      throw new UsageError(`unknown client command ${String(never)}`);
    }
  }
}

/** `--quota N`: a positive whole number; without it, null (the default quota). */
function parseQuota(quota: string | boolean | undefined): number | null {
  if (typeof quota !== 'string') return null;
  if (!/^\d+$/.test(quota) || Number(quota) < 1)
    throw new UsageError('--quota must be a positive whole number');
  return Number(quota);
}

async function listCommand(store: Store, json: boolean): Promise<number> {
  const clients = await listClients(store);
  if (json) {
    // The keys every command's JSON has: snake_case, times ISO 8601.
    printJson(
      clients.map((c) => ({
        client_id: c.clientId,
        name: c.name,
        accounts: c.accounts,
        quota_limit: c.quotaLimit,
        created_at: iso(c.createdAt),
        secret_rotated_at: iso(c.secretRotatedAt),
      })),
    );
  } else if (clients.length === 0) {
    console.log('no clients; make one with: securemail client create --name NAME');
  } else {
    for (const c of clients) {
      console.log(
        `${c.clientId}  ${c.name}  accounts=${c.accounts}  quota=${c.quotaLimit ?? 'default'}  created=${new Date(c.createdAt).toISOString()}`,
      );
    }
  }
  return 0;
}

function notFound(id: string): number {
  console.error(`securemail: no client ${id}`);
  return 1;
}

function printCredentials(c: { clientId: string; clientSecret: string }, json: boolean): void {
  if (json) {
    console.log(JSON.stringify({ client_id: c.clientId, client_secret: c.clientSecret }));
    return;
  }
  console.log(`client_id:     ${c.clientId}`);
  console.log(`client_secret: ${c.clientSecret}`);
  console.log('Store the secret now: only a hash of it is kept, it cannot be shown again.');
}
