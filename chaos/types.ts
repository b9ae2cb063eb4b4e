// The contract between the fault suite's runner (chaos/run.ts) and its faults
// (chaos/faults/*.ts). Each fault module exports `fault: Fault`; the runner runs the ones
// asked for and prints one table row per FaultRow.

export type ChaosDatabase = 'sqlite' | 'postgres';

export interface ChaosContext {
  /** The short version (CI): fewer recipients and runs, same faults, same checks. */
  short: boolean;
  /** A PostgreSQL the suite may create schemas in (the machine's shared server); undefined: skip PostgreSQL rows. */
  postgresUrl: string | undefined;
  /** A fresh directory for this fault's files (SQLite database, logs); removed after a passing run. */
  workDir: string;
  /** Progress for the person watching (one line each, no trailing newline). */
  log(line: string): void;
}

/** One row of the table: one fault on one database. */
export interface FaultRow {
  fault: string;
  database: ChaosDatabase | '-';
  /** How many times the fault was injected (kills, restarts, outages...). */
  runs: number;
  /** Recipients accepted (202) in this row. */
  recipients: number;
  /** Accepted recipients without a final state at the end, or final `delivered` yet absent at the sink. */
  lost: number;
  /** Extra copies the receiving server got beyond one per delivered recipient. */
  duplicated: number;
  /** The most duplicates this fault may cause (docs/reliability.md says why). */
  duplicateBound: number;
  /** Peak resident memory of the service process, MiB; undefined where not measured. */
  peakRssMiB?: number | undefined;
  /** Requests answered 202 for what was not durably stored (must be 0). */
  falseAccepts?: number | undefined;
  /** Short facts worth a column: seconds to recover, 503s answered, ... */
  notes: string[];
  /** Set when the row could not run here (e.g. no permission to mount a tmpfs): why. Not a failure. */
  skipped?: string | undefined;
  /** The row's own checks passed (lost 0, duplicates within bound, its fault-specific checks). */
  ok: boolean;
}

export interface Fault {
  /** Short name, used on the command line (`npm run chaos -- kill`). */
  name: string;
  /** One line for `npm run chaos -- --list` and the docs. */
  describe: string;
  run(context: ChaosContext): Promise<FaultRow[]>;
}
