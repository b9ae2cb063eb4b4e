// Creating, reading, verifying and deleting accounts on behalf of one tenant (OAuth client).

import { randomUUID } from 'node:crypto';
import { AppError } from '../errors.ts';
import { randomToken } from '../secrets/secret-hash.ts';
import {
  type AccountChanges,
  deleteAccount,
  findAccount,
  insertAccount,
  updateAccount,
} from '../store/accounts.repository.ts';
import { inTransaction, type Store } from '../store/database.ts';
import { deleteDkimKeys, insertDkimKeys } from '../store/dkim-keys.repository.ts';
import { updateDomainCheck } from '../store/domain-checks.repository.ts';
import type {
  Account,
  AccountState,
  DkimKey,
  DomainCheck,
  VerificationOutcome,
} from '../store/schema.ts';
import { isPolicyLevel, POLICY_LEVELS, type PolicyLevel } from '../vocabulary/policy-levels.ts';
import { generateDkimKeys } from './dkim-keys.ts';
import {
  type AccountRecords,
  expectedRecords,
  parseStoredResults,
  type RecordsConfig,
  recordsView,
} from './dns-records.ts';
import { checkApexDomain } from './domain-name.ts';
import { checkAddress } from './email-address.ts';
import {
  backoffDelayMs,
  insertOnboarding,
  loadOnboarding,
  newDomainCheck,
  type VerificationDeps,
  verifyAccount,
} from './verification.ts';

const BOUNCE_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The store, config, clock, DNS resolver and master key (for DKIM keys) accounts work with. */
export type AccountsDeps = VerificationDeps;

export interface CreateAccountInput {
  domain: string;
  notification_email: string;
  bounce_subdomain?: string | undefined;
  policy_level?: PolicyLevel | undefined;
}

/** `PATCH /account`: the fields to change; at least one. */
export interface UpdateAccountInput {
  policy_level?: PolicyLevel | undefined;
  notification_email?: string | undefined;
}

export interface AccountView extends AccountRecords {
  domain: { name: string; state: AccountState };
  notification_email: string;
  bounce_subdomain: string;
  policy_level: PolicyLevel;
  created_at: string;
  updated_at: string;
  /** When the records were last checked and when they will be next. */
  verification: {
    last_checked_at: string | null;
    last_outcome: VerificationOutcome | null;
    next_check_at: string | null;
  };
}

/** Validates a domain from a request; the field name makes the error say where it came from. */
export function requireApexDomain(
  input: string,
  field: string,
  privateSuffixes: readonly string[],
): string {
  const check = checkApexDomain(input, privateSuffixes);
  if (!check.ok)
    throw new AppError('validation_failed', { field, message: `${field}: ${check.problem}` });
  return check.domain;
}

/** Validates a notification address from a request (POST and PATCH alike). */
function requireNotificationEmail(input: string): string {
  const email = checkAddress(input);
  if (!email.ok) {
    throw new AppError('validation_failed', {
      field: 'notification_email',
      message: `notification_email: ${email.problem}`,
    });
  }
  return email.address;
}

function requirePolicyLevel(input: string): PolicyLevel {
  if (!isPolicyLevel(input)) {
    throw new AppError('validation_failed', {
      field: 'policy_level',
      message: `policy_level: must be one of ${POLICY_LEVELS.join(', ')}`,
    });
  }
  return input;
}

export async function createAccount(
  deps: AccountsDeps,
  clientId: string,
  input: CreateAccountInput,
): Promise<AccountView> {
  const domain = requireApexDomain(input.domain, 'domain', deps.config.privateSuffixes);
  const notificationEmail = requireNotificationEmail(input.notification_email);
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
    notification_email: notificationEmail,
    state: 'unverified',
    bounce_subdomain: bounce,
    policy_level: input.policy_level ?? 'verified',
    ownership_token: randomToken(24),
    created_at: now,
    updated_at: now,
  };
  // The keys are made before the transaction: RSA key generation takes tens of milliseconds.
  const keys = await generateDkimKeys(deps.masterKey, account.id, 'active', now);
  const check = newDomainCheck(account.id, now, deps.config.verification);
  try {
    await inTransaction(deps.store.db, async (trx) => {
      await insertAccount(trx, account);
      await insertOnboarding(trx, keys, check);
    });
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
  return accountView(account, deps.config, keys, check);
}

/** The account as GET /account shows it, with its keys and schedule as stored now. */
async function storedView(deps: AccountsDeps, account: Account): Promise<AccountView> {
  const { keys, check } = await loadOnboarding(deps, account);
  return accountView(account, deps.config, keys, check);
}

export async function getAccount(
  deps: AccountsDeps,
  clientId: string,
  domainInput: string,
): Promise<AccountView> {
  const account = await requireAccount(deps, clientId, domainInput);
  return storedView(deps, account);
}

/**
 * `PATCH /account`: changes the policy level and/or the notification address. The delivery
 * worker reads the level per recipient, so a change applies to the next attempt, including
 * recipients already queued.
 */
export async function updateAccountSettings(
  deps: AccountsDeps,
  clientId: string,
  domainInput: string,
  input: UpdateAccountInput,
): Promise<AccountView> {
  const domain = requireApexDomain(domainInput, 'domain', deps.config.privateSuffixes);
  const changes: AccountChanges = {};
  if (input.policy_level !== undefined)
    changes.policy_level = requirePolicyLevel(input.policy_level);
  if (input.notification_email !== undefined)
    changes.notification_email = requireNotificationEmail(input.notification_email);
  if (Object.keys(changes).length === 0) {
    throw new AppError('validation_failed', {
      field: 'body',
      message: 'body: name at least one field to change: policy_level, notification_email',
    });
  }
  const account = await updateAccount(deps.store.db, clientId, domain, changes, deps.now());
  if (account === undefined) throw notFound(domain);
  return storedView(deps, account);
}

/** `POST /account/verify`: checks the records now and answers with the result. */
export async function verifyAccountNow(
  deps: AccountsDeps,
  clientId: string,
  domainInput: string,
): Promise<AccountView> {
  const account = await requireAccount(deps, clientId, domainInput);
  const result = await verifyAccount(deps, account, 'manual');
  return accountView(result.account, deps.config, result.keys, result.check);
}

/**
 * `POST /account/dkim/rotate`: a new generation of keys is published as `pending`; mail is
 * signed with the current keys until the new ones are found in DNS, then the old ones are
 * retired. Rotating again before that replaces the pending keys.
 */
export async function rotateDkimKeys(
  deps: AccountsDeps,
  clientId: string,
  domainInput: string,
): Promise<AccountView> {
  const account = await requireAccount(deps, clientId, domainInput);
  await loadOnboarding(deps, account);
  const now = deps.now();
  const fresh = await generateDkimKeys(deps.masterKey, account.id, 'pending', now);
  await inTransaction(deps.store.db, async (trx) => {
    await deleteDkimKeys(trx, account.id, 'pending');
    await insertDkimKeys(trx, fresh);
    // Look for the new records soon, on the backoff schedule, not a day from now.
    await updateDomainCheck(trx, account.id, {
      next_check_at: now + backoffDelayMs(deps.config.verification, 0),
    });
  });
  return storedView(deps, account);
}

export async function removeAccount(
  deps: AccountsDeps,
  clientId: string,
  domainInput: string,
): Promise<void> {
  const domain = requireApexDomain(domainInput, 'domain', deps.config.privateSuffixes);
  if (!(await deleteAccount(deps.store.db, clientId, domain))) throw notFound(domain);
}

/** The caller's account for a domain, or 404: another tenant's account is reported as absent. */
export async function requireAccount(
  deps: AccountsDeps,
  clientId: string,
  domainInput: string,
): Promise<Account> {
  return requireOwnAccount(deps.store, clientId, domainInput, deps.config.privateSuffixes);
}

/** The caller's account for a domain as a request names it: 400 if not an apex domain, else 404. */
export async function requireOwnAccount(
  store: Store,
  clientId: string,
  domainInput: string,
  privateSuffixes: readonly string[],
): Promise<Account> {
  const domain = requireApexDomain(domainInput, 'domain', privateSuffixes);
  const account = await findAccount(store.db, clientId, domain);
  if (account === undefined) throw notFound(domain);
  return account;
}

function notFound(domain: string): AppError {
  return new AppError('account_not_found', { message: `No account for ${domain}.` });
}

const isoOrNull = (ms: number | null): string | null =>
  ms === null ? null : new Date(ms).toISOString();

export function accountView(
  account: Account,
  config: RecordsConfig,
  keys: readonly DkimKey[],
  check: DomainCheck,
): AccountView {
  const expected = expectedRecords(account, config, keys);
  return {
    domain: { name: account.domain, state: account.state },
    notification_email: account.notification_email,
    bounce_subdomain: account.bounce_subdomain,
    policy_level: account.policy_level,
    created_at: new Date(account.created_at).toISOString(),
    updated_at: new Date(account.updated_at).toISOString(),
    ...recordsView(expected, parseStoredResults(check.results)),
    verification: {
      last_checked_at: isoOrNull(check.last_checked_at),
      last_outcome: check.last_outcome,
      next_check_at: account.state === 'failed' ? null : isoOrNull(check.next_check_at),
    },
  };
}
