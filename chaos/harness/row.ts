// The table row of a fault that sends through the Submitter and does its books with the
// Ledger (kill, pg-restart, disk-full): the notes and checks every such fault shares, after
// the fault's own. One place, so a new check of the books applies to every fault at once.

import type { ChaosDatabase, FaultRow } from '../types.ts';
import type { Ledger } from './ledger.ts';
import type { Submitter } from './submit.ts';

/**
 * SECUREMAIL_WORKER_BATCH of the faults that interrupt delivery: small, so that the
 * duplicate bound says something.
 */
export const WORKER_BATCH = 100;

/**
 * Copies beyond one that `interruptions` of a worker may cause: each may repeat at most the
 * recipients the worker held, 2 x SECUREMAIL_WORKER_BATCH (src/delivery/settings.ts).
 */
export function duplicateBound(interruptions: number): number {
  return interruptions * 2 * WORKER_BATCH;
}

/** The row of a fault that could not run here (no PostgreSQL, no tmpfs): SKIPPED with why. */
export function skippedRow(fault: string, database: ChaosDatabase, why: string): FaultRow {
  return {
    fault,
    database,
    runs: 0,
    recipients: 0,
    lost: 0,
    duplicated: 0,
    duplicateBound: 0,
    notes: [],
    skipped: why,
    ok: true,
  };
}

export interface LedgerRowInput {
  fault: string;
  database: ChaosDatabase;
  runs: number;
  ledger: Ledger;
  submitter: Submitter;
  /** Processes that exited by themselves. */
  crashes: readonly string[];
  peakRssMiB: number;
  duplicateBound: number;
  /** The fault's own notes, shown first. */
  notes: string[];
  /** The fault's own checks; all must hold. */
  checks: boolean[];
  /** A killed API cuts answers off; only then may a 5xx other than 503 be seen. */
  serverErrorsAllowed?: boolean;
}

export function ledgerRow(input: LedgerRowInput): FaultRow {
  const { ledger, submitter, crashes } = input;
  const notes = [...input.notes];
  if (ledger.open > 0) notes.push(`stuck: ${ledger.stuck}`);
  if (ledger.absentAtSink > 0) notes.push(`${ledger.absentAtSink} delivered but not at the sink`);
  if (ledger.falseAccepts > 0) notes.push(`${ledger.falseAccepts} messages 202'd but not stored`);
  if (submitter.serverErrors > 0)
    notes.push(`${submitter.serverErrors} answers 5xx other than 503`);
  if (crashes.length > 0) notes.push(`crashed: ${crashes.join(', ')}`);
  const others = Object.entries(ledger.statuses).filter(([s]) => s !== 'delivered');
  if (others.length > 0)
    notes.push(`not delivered: ${others.map(([s, n]) => `${s} ${n}`).join(', ')}`);
  const booksHold =
    ledger.lost === 0 &&
    ledger.falseAccepts === 0 &&
    ledger.duplicated <= input.duplicateBound &&
    crashes.length === 0 &&
    submitter.gaveUp === 0 &&
    submitter.refused.length === 0 &&
    (input.serverErrorsAllowed === true || submitter.serverErrors === 0);
  return {
    fault: input.fault,
    database: input.database,
    runs: input.runs,
    recipients: ledger.accepted,
    lost: ledger.lost,
    duplicated: ledger.duplicated,
    duplicateBound: input.duplicateBound,
    peakRssMiB: input.peakRssMiB,
    falseAccepts: ledger.falseAccepts,
    notes,
    ok: booksHold && input.checks.every(Boolean),
  };
}
