// Creating, reading and deleting accounts on behalf of one tenant (OAuth client).

import { randomUUID } from 'node:crypto';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import { randomToken } from '../secrets/secret-hash.ts';
import { deleteAccount, findAccount, insertAccount } from '../store/accounts.repository.ts';
import type { Store } from '../store/database.ts';
import type { Account, AccountState, PolicyLevel } from '../store/schema.ts';
import { type AccountRecords, requiredRecords } from './dns-records.ts';
import { checkApexDomain } from './domain-name.ts';
import { checkAddress } from './email-address.ts';

export const POLICY_LEVELS: readonly PolicyLevel[] = ['dane-only', 'authenticated', 'verified'];
const BOUNCE_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export interface AccountsDeps {
  store: Store;
  config: Pick<Config, 'mxHosts' | 'spfInclude' | 'spfIps' | 'hostname'>;
  now: () => number;
}

export interface CreateAccountInput {
  domain: string;
  notification_email: string;
  bounce_subdomain?: string | undefined;
  policy_level?: PolicyLevel | undefined;
}

export interface AccountView extends AccountRecords {
  domain: { name: string; state: AccountState };
  notification_email: string;
  bounce_subdomain: string;
  policy_level: PolicyLevel;
  created_at: string;
  updated_at: string;
}

/** Validates a domain from a request; the field name makes the error say where it came from. */
export function requireApexDomain(input: string, field: string): string {
  const check = checkApexDomain(input);
  if (!check.ok)
    throw new AppError('validation_failed', { field, message: `${field}: ${check.problem}` });
  return check.domain;
}

export async function createAccount(
  deps: AccountsDeps,
  clientId: string,
  input: CreateAccountInput,
): Promise<AccountView> {
  const domain = requireApexDomain(input.domain, 'domain');
  const email = checkAddress(input.notification_email);
  if (!email.ok) {
    throw new AppError('validation_failed', {
      field: 'notification_email',
      message: `notification_email: ${email.problem}`,
    });
  }
  const bounce = (input.bounce_subdomain ?? 'bounce').toLowerCase();
  if (!BOUNCE_LABEL.test(bounce)) {
    throw new AppError('validation_failed', {
      field: 'bounce_subdomain',
      message: 'bounce_subdomain: must be one DNS label (letters, digits, hyphens), e.g. "bounce"',
    });
  }
  if (await findAccount(deps.store.db, clientId, domain)) {
    throw new AppError('account_exists', {
      field: 'domain',
      message: `An account for ${domain} already exists.`,
    });
  }
  const now = deps.now();
  const account: Account = {
    id: randomUUID(),
    client_id: clientId,
    domain,
    notification_email: email.address,
    state: 'unverified',
    bounce_subdomain: bounce,
    policy_level: input.policy_level ?? 'verified',
    ownership_token: randomToken(24),
    created_at: now,
    updated_at: now,
  };
  try {
    await insertAccount(deps.store.db, account);
  } catch (error) {
    // Two requests raced past the check above; the unique constraint decided.
    if (await findAccount(deps.store.db, clientId, domain)) {
      throw new AppError('account_exists', {
        field: 'domain',
        message: `An account for ${domain} already exists.`,
      });
    }
    throw error;
  }
  return accountView(account, deps.config);
}

export async function getAccount(
  deps: AccountsDeps,
  clientId: string,
  domainInput: string,
): Promise<AccountView> {
  const account = await requireAccount(deps, clientId, domainInput);
  return accountView(account, deps.config);
}

export async function removeAccount(
  deps: AccountsDeps,
  clientId: string,
  domainInput: string,
): Promise<void> {
  const domain = requireApexDomain(domainInput, 'domain');
  if (!(await deleteAccount(deps.store.db, clientId, domain))) throw notFound(domain);
}

/** The caller's account for a domain, or 404: another tenant's account is reported as absent. */
export async function requireAccount(
  deps: AccountsDeps,
  clientId: string,
  domainInput: string,
): Promise<Account> {
  const domain = requireApexDomain(domainInput, 'domain');
  const account = await findAccount(deps.store.db, clientId, domain);
  if (account === undefined) throw notFound(domain);
  return account;
}

function notFound(domain: string): AppError {
  return new AppError('account_not_found', { message: `No account for ${domain}.` });
}

export function accountView(account: Account, config: AccountsDeps['config']): AccountView {
  return {
    domain: { name: account.domain, state: account.state },
    notification_email: account.notification_email,
    bounce_subdomain: account.bounce_subdomain,
    policy_level: account.policy_level,
    created_at: new Date(account.created_at).toISOString(),
    updated_at: new Date(account.updated_at).toISOString(),
    ...requiredRecords(account, config),
  };
}
