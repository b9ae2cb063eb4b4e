// What the sending path asks of accounts: may this tenant send from this domain, and with
// which DKIM keys. `POST /message` calls requireSendableDomain before accepting a message,
// delivery calls dkimSigningKeys when it signs.

import { AppError } from '../errors.ts';
import type { Store } from '../store/database.ts';
import { listDkimKeys } from '../store/dkim-keys.repository.ts';
import { findDomainCheck } from '../store/domain-checks.repository.ts';
import type { Account } from '../store/schema.ts';
import { requireOwnAccount } from './accounts-service.ts';
import { type DkimSigningKey, unsealDkimKey } from './dkim-keys.ts';
import {
  expectedRecords,
  missingRecords,
  parseStoredResults,
  type RecordsConfig,
  recordLabel,
} from './dns-records.ts';

export interface SendingDeps {
  store: Store;
  config: RecordsConfig;
}

/**
 * The tenant's account for `domain` when it is `valid`. Throws 404 `account_not_found` when
 * the tenant has no such account (another tenant's account included), and 412
 * `domain_not_valid` naming the records still missing otherwise.
 */
export async function requireSendableDomain(
  deps: SendingDeps,
  clientId: string,
  domainInput: string,
): Promise<Account> {
  const account = await requireOwnAccount(
    deps.store,
    clientId,
    domainInput,
    deps.config.privateSuffixes,
  );
  if (account.state === 'valid') return account;
  const keys = await listDkimKeys(deps.store.db, account.id);
  const check = await findDomainCheck(deps.store.db, account.id);
  const missing = missingRecords(
    expectedRecords(account, deps.config, keys),
    parseStoredResults(check?.results),
  );
  // Records a check found missing or wrong, apart from those nobody could look up (never
  // checked, or DNS failed: then publishing is not what helps).
  const list = (status: 'failed' | 'unknown') =>
    missing
      .filter((r) => r.status === status)
      .map((r) => `${recordLabel(r)} (${withoutStop(r.detail)})`)
      .join('; ');
  const wrong = list('failed');
  const unknown = list('unknown');
  throw new AppError('domain_not_valid', {
    field: 'sender',
    message: [
      `The domain ${account.domain} is ${account.state}, not valid.`,
      wrong === '' ? '' : `Missing or wrong: ${wrong}.`,
      unknown === '' ? '' : `Not checked or not looked up: ${unknown}.`,
      `Publish the DNS records of GET /account?domain=${account.domain}, then check them with POST /account/verify?domain=${account.domain}.`,
    ]
      .filter((part) => part !== '')
      .join(' '),
  });
}

/** The keys to sign this account's mail with, decrypted: the `active` ones (RSA and Ed25519). */
export async function dkimSigningKeys(
  deps: { store: Store; masterKey: Buffer },
  account: Account,
): Promise<DkimSigningKey[]> {
  const keys = await listDkimKeys(deps.store.db, account.id, ['active']);
  return keys.map((key) => unsealDkimKey(deps.masterKey, account.domain, key));
}

function withoutStop(text: string): string {
  return text.replace(/\.$/, '');
}
