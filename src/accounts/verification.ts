// Verifying a domain: check its records in DNS, store the result per record, move the
// account's state, and plan the next check. Used by `POST /account/verify` (now) and by the
// background verifier in the worker role (when due).
//
// States: unverified -> valid when ownership, DKIM (the signing keys) and SPF/MX all pass;
// valid -> unverified when a record is definitely gone or wrong (the account is notified);
// unverified -> failed when the domain has not verified within `giveUpHours`.
// A timeout or SERVFAIL never changes the state: nothing was learned about the records.

import type { Logger } from 'pino';
import type { Resolver } from '../dns/index.ts';
import { recordAccountNotice } from '../outbox/account-notices.ts';
import { recordDomainEvent } from '../outbox/webhook-events.ts';
import { changeAccountState } from '../store/accounts.repository.ts';
import { type Db, inTransaction, type Store } from '../store/database.ts';
import {
  insertDkimKeys,
  listDkimKeys,
  promotePendingDkimKeys,
} from '../store/dkim-keys.repository.ts';
import {
  findDomainCheck,
  insertDomainCheck,
  insertDomainCheckIfMissing,
  updateDomainCheck,
} from '../store/domain-checks.repository.ts';
import type {
  Account,
  AccountState,
  DkimKey,
  DomainCheck,
  VerificationOutcome,
} from '../store/schema.ts';
import { generateDkimKeys } from './dkim-keys.ts';
import {
  type ExpectedRecord,
  expectedRecords,
  missingRecords,
  parseStoredResults,
  type RecordsConfig,
  recordLabel,
  type StoredResults,
} from './dns-records.ts';
import { lookUpRecords, type RecordLookup } from './record-lookup.ts';
import type { VerificationSchedule } from './settings.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export interface VerificationDeps {
  store: Store;
  config: RecordsConfig & { verification: VerificationSchedule };
  now: () => number;
  resolver: Resolver;
  masterKey: Buffer;
  logger?: Logger | undefined;
}

/**
 * The retry rule, in one place: the delay doubles per unsuccessful check, from
 * `firstDelayMinutes` up to `maxDelayMinutes` (2, 4, 8, 16, 32, 60, 60, ... minutes by default).
 */
export function backoffDelayMs(schedule: VerificationSchedule, attempts: number): number {
  return Math.min(schedule.firstDelayMinutes * 2 ** attempts, schedule.maxDelayMinutes) * MINUTE;
}

/** The schedule row of a new account: first check after the first delay. */
export function newDomainCheck(
  accountId: string,
  now: number,
  schedule: VerificationSchedule,
): DomainCheck {
  return {
    account_id: accountId,
    results: '{}',
    attempts: 0,
    window_started_at: now,
    next_check_at: now + backoffDelayMs(schedule, 0),
    last_checked_at: null,
    last_outcome: null,
    last_valid_at: null,
  };
}

/** Keys and schedule of an account, made on first use for accounts older than onboarding. */
export async function loadOnboarding(
  deps: Pick<VerificationDeps, 'store' | 'config' | 'now' | 'masterKey'>,
  account: Account,
): Promise<{ keys: DkimKey[]; check: DomainCheck }> {
  const db = deps.store.db;
  let keys = await listDkimKeys(db, account.id);
  if (!keys.some((k) => k.status === 'active')) {
    const made = await generateDkimKeys(deps.masterKey, account.id, 'active', deps.now());
    try {
      await insertDkimKeys(db, made);
    } catch (error) {
      // Another process made them at the same time; use theirs.
      if (!(await listDkimKeys(db, account.id, ['active'])).length) throw error;
    }
    keys = await listDkimKeys(db, account.id);
  }
  let check = await findDomainCheck(db, account.id);
  if (check === undefined) {
    check = newDomainCheck(account.id, deps.now(), deps.config.verification);
    await insertDomainCheckIfMissing(db, check);
    check = (await findDomainCheck(db, account.id)) ?? check;
  }
  return { keys, check };
}

export interface VerificationResult {
  account: Account;
  keys: DkimKey[];
  check: DomainCheck;
  outcome: VerificationOutcome;
  /** The state before the check, to tell transitions. */
  previousState: AccountState;
  /** Whether a pending DKIM rotation completed with this check. */
  rotated: boolean;
}

function summarize(
  expected: readonly ExpectedRecord[],
  fresh: Map<string, RecordLookup>,
): VerificationOutcome {
  const required = expected.filter((r) => r.required).map((r) => fresh.get(r.key)?.status);
  if (required.every((s) => s === 'success')) return 'valid';
  if (required.some((s) => s === 'failed')) return 'invalid';
  return 'transient';
}

function nextState(
  previous: AccountState,
  outcome: VerificationOutcome,
  windowExpired: boolean,
  manual: boolean,
): AccountState {
  switch (outcome) {
    case 'valid':
      return 'valid';
    case 'transient':
      return previous;
    case 'invalid':
      if (previous === 'valid') return 'unverified';
      // A check asked for by the owner after giving up opens a new window.
      if (previous === 'failed') return manual ? 'unverified' : 'failed';
      return windowExpired && !manual ? 'failed' : 'unverified';
    default: {
      const never: never = outcome;
      throw new Error(`unknown outcome ${String(never)}`);
    }
  }
}

/** Checks an account's records now and applies the result. */
export async function verifyAccount(
  deps: VerificationDeps,
  account: Account,
  trigger: 'manual' | 'schedule',
): Promise<VerificationResult> {
  const { keys, check } = await loadOnboarding(deps, account);
  const expected = expectedRecords(account, deps.config, keys);
  const fresh = await lookUpRecords(deps.resolver, account, expected);
  const now = deps.now();
  const schedule = deps.config.verification;

  const results = mergeResults(expected, fresh, parseStoredResults(check.results));
  const outcome = summarize(expected, fresh);
  const pendingKeys = expected.filter((r) => r.dkim?.pending);
  const rotated =
    pendingKeys.length > 0 && pendingKeys.every((r) => fresh.get(r.key)?.status === 'success');

  const previousState = account.state;
  const windowExpired = now - check.window_started_at >= schedule.giveUpHours * HOUR;
  const state = nextState(previousState, outcome, windowExpired, trigger === 'manual');
  const newWindow = state === 'unverified' && previousState !== 'unverified';
  const attempts = outcome === 'valid' ? 0 : newWindow ? 1 : check.attempts + 1;
  const stillRotating = pendingKeys.length > 0 && !rotated;
  const updatedCheck: DomainCheck = {
    account_id: account.id,
    results: JSON.stringify(results),
    attempts,
    window_started_at: newWindow ? now : check.window_started_at,
    next_check_at: now + nextCheckDelay(schedule, state, outcome, attempts, stillRotating),
    last_checked_at: now,
    last_outcome: outcome,
    last_valid_at: outcome === 'valid' ? now : check.last_valid_at,
  };

  let finalState = state;
  await inTransaction(deps.store.db, async (trx) => {
    if (
      state !== previousState &&
      !(await changeState(trx, deps, account, state, { expected, results, now }))
    ) {
      finalState = previousState;
    }
    if (rotated) await promotePendingDkimKeys(trx, account.id, now);
    await updateDomainCheck(trx, account.id, updatedCheck);
  });

  // Failed lookups are said in the log too, with the resolver and what it did.
  const dnsProblems = [...fresh.values()].flatMap((r) =>
    r.status === 'transient' ? [r.detail] : [],
  );
  deps.logger?.[dnsProblems.length > 0 ? 'warn' : 'info'](
    {
      domain: account.domain,
      trigger,
      outcome,
      from: previousState,
      to: finalState,
      rotated,
      ...(dnsProblems.length > 0 ? { dnsProblems: [...new Set(dnsProblems)] } : {}),
    },
    dnsProblems.length > 0 ? 'domain checked; some DNS lookups failed' : 'domain checked',
  );
  const finalAccount: Account =
    finalState === previousState ? account : { ...account, state: finalState, updated_at: now };
  return {
    account: finalAccount,
    keys: rotated ? await listDkimKeys(deps.store.db, account.id) : keys,
    check: updatedCheck,
    outcome,
    previousState,
    rotated,
  };
}

/**
 * The stored result per expected record: the fresh one, or where the lookup failed
 * temporarily the stored one with the failure noted (`unknown` when there was none, so that
 * no checked record still reads "not checked yet"); results of records that no longer exist
 * (retired keys) are dropped.
 */
function mergeResults(
  expected: readonly ExpectedRecord[],
  fresh: Map<string, RecordLookup>,
  stored: StoredResults,
): StoredResults {
  const results: StoredResults = {};
  for (const record of expected) {
    const result = fresh.get(record.key);
    if (result === undefined) {
      const kept = stored[record.key];
      if (kept !== undefined) results[record.key] = kept;
    } else if (result.status === 'transient') {
      // Nothing learned about the record: the earlier result stands, with what DNS did now.
      const { lookupProblem: _, ...kept } = stored[record.key] ?? { status: 'unknown' as const };
      results[record.key] = { ...kept, lookupProblem: result.detail };
    } else {
      results[record.key] = result;
    }
  }
  return results;
}

/** When to look again: daily when valid and settled, else on the backoff schedule. */
function nextCheckDelay(
  schedule: VerificationSchedule,
  state: AccountState,
  outcome: VerificationOutcome,
  attempts: number,
  stillRotating: boolean,
): number {
  if (state === 'valid' && outcome === 'valid' && !stillRotating) {
    return schedule.recheckHours * HOUR;
  }
  if (state === 'valid') {
    // A valid domain with a transient failure or a rotation in progress: look again soon,
    // but no more often than the backoff allows.
    return backoffDelayMs(schedule, outcome === 'valid' ? 0 : attempts);
  }
  return backoffDelayMs(schedule, attempts);
}

/**
 * Moves the account to `state` in `trx`, with the webhook event and the account notice the
 * transition calls for. False when another check made a transition first (then nothing).
 */
async function changeState(
  trx: Db,
  deps: VerificationDeps,
  account: Account,
  state: AccountState,
  facts: { expected: readonly ExpectedRecord[]; results: StoredResults; now: number },
): Promise<boolean> {
  const { now } = facts;
  // Only the first of two concurrent checks makes the transition (and the notification).
  if (!(await changeAccountState(trx, account.id, account.state, state, now))) return false;
  // Webhook subscribers hear of every transition, in the same transaction.
  await recordDomainEvent(trx, { accountId: account.id, domain: account.domain, state, at: now });
  const notice = noticeFor(account, state, facts.expected, facts.results, deps.config);
  if (notice !== undefined) {
    await recordAccountNotice(trx, deps.masterKey, {
      accountId: account.id,
      kind: notice.kind,
      recipient: account.notification_email,
      subject: notice.subject,
      body: notice.body,
      at: now,
    });
    deps.logger?.warn(
      { domain: account.domain, kind: notice.kind, to: account.notification_email },
      'account notification queued for the notification address',
    );
  }
  return true;
}

function noticeFor(
  account: Account,
  state: AccountState,
  expected: readonly ExpectedRecord[],
  results: StoredResults,
  config: { verification: VerificationSchedule },
): { kind: string; subject: string; body: string } | undefined {
  const missing = missingRecords(expected, results)
    .map((r) => `- ${recordLabel(r)}: ${r.detail}`)
    .join('\n');
  if (state === 'unverified') {
    return {
      kind: 'domain_unverified',
      subject: `${account.domain} can no longer send: DNS records are missing`,
      body:
        `A check of ${account.domain} found that records it needs are gone or changed, so mail ` +
        `from this domain is refused until they are back:\n\n${missing}\n\n` +
        'Publish them again; the domain becomes valid by itself once they are found ' +
        '(or ask now with POST /account/verify).',
    };
  }
  if (state === 'failed') {
    return {
      kind: 'domain_failed',
      subject: `${account.domain} could not be verified`,
      body:
        `The DNS records of ${account.domain} were not found within ${config.verification.giveUpHours} ` +
        `hours, so automatic checks have stopped:\n\n${missing}\n\n` +
        'Publish them and ask for a check with POST /account/verify.',
    };
  }
  return undefined;
}

/** Inserts the keys and schedule of a newly made account, inside its transaction. */
export async function insertOnboarding(
  db: Store['db'],
  keys: DkimKey[],
  check: DomainCheck,
): Promise<void> {
  await insertDkimKeys(db, keys);
  await insertDomainCheck(db, check);
}
