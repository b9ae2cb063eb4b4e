// The background verifier of the worker role: every poll it checks the domains whose
// `next_check_at` has come (see verification.ts for the schedule). The schedule lives in the
// database, so a restarted worker carries on where it stopped, and several workers share the
// work: each claims a due check before running it.

import {
  claimDueCheck,
  findAccountById,
  listDueChecks,
} from '../store/domain-checks.repository.ts';
import type { VerificationOutcome } from '../store/schema.ts';
import { isStorageUnavailable, StorageOutage } from '../store/unavailable.ts';
import { type VerificationDeps, verifyAccount } from './verification.ts';

/** Checks one worker runs per batch; the next batch follows at once while work is due. */
export const VERIFY_BATCH = 20;
/**
 * A claimed check is not picked up again for this long: if the worker dies mid-check (or the
 * check throws), another worker retries it after the lease instead of never.
 */
export const CLAIM_LEASE_MS = 10 * 60_000;

export interface VerifierDeps extends VerificationDeps {
  /** Told how each scheduled check ended, `error` when it threw (metrics). */
  onChecked?: ((outcome: VerificationOutcome | 'error') => void) | undefined;
}

export interface DueRun {
  checked: number;
  errors: number;
}

/** Runs every check due now. Returns how many ran; errors are logged and counted, not thrown. */
export async function runDueVerifications(deps: VerifierDeps): Promise<DueRun> {
  const run: DueRun = { checked: 0, errors: 0 };
  for (;;) {
    const now = deps.now();
    const due = await listDueChecks(deps.store.db, now, VERIFY_BATCH);
    for (const row of due) {
      if (
        !(await claimDueCheck(
          deps.store.db,
          row.account_id,
          row.next_check_at,
          now + CLAIM_LEASE_MS,
        ))
      )
        continue;
      const account = await findAccountById(deps.store.db, row.account_id);
      if (account === undefined) continue;
      try {
        const result = await verifyAccount(deps, account, 'schedule');
        run.checked++;
        deps.onChecked?.(result.outcome);
      } catch (error) {
        // The database away is the poll's failure, said once by its outage (below), not a
        // failed check per domain.
        if (isStorageUnavailable(error)) throw error;
        run.errors++;
        deps.onChecked?.('error');
        deps.logger?.error(
          { err: error, domain: account.domain },
          'domain check failed; retried after the lease',
        );
      }
    }
    if (due.length < VERIFY_BATCH) return run;
  }
}

export interface DomainVerifier {
  /** Stops polling and waits for the run in progress. */
  stop(): Promise<void>;
  /** Runs due checks now (tests, and the first poll). */
  runOnce(): Promise<DueRun>;
}

export function startDomainVerifier(deps: VerifierDeps): DomainVerifier {
  const intervalMs = deps.config.verification.pollSeconds * 1000;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<DueRun> | undefined;
  let stopped = false;
  // While the database is away every poll fails the same way: said once when it starts and
  // once when it ends. Other failures are logged each time.
  const outage =
    deps.logger === undefined ? undefined : new StorageOutage(deps.logger, 'domain verifier');

  const runOnce = (): Promise<DueRun> => {
    running ??= runDueVerifications(deps)
      .then((run) => {
        outage?.succeeded();
        return run;
      })
      .catch((error: unknown) => {
        outage?.failed(error);
        return { checked: 0, errors: 1 };
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(async () => {
      await runOnce();
      schedule();
    }, intervalMs);
    timer.unref();
  };
  schedule();

  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await running;
    },
  };
}
