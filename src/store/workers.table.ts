// Row types of the workers table (workers.migration.ts): the delivery workers running now,
// each with a counter of its heartbeats. src/delivery/liveness.ts explains how they are used.

export interface WorkersTable {
  /** The worker's lease owner id: its claims carry it in recipients.lease_owner. */
  id: string;
  /** The machine's host name and the process id, for an operator reading the table. */
  host: string;
  pid: number;
  started_at: number;
  /** The worker's own wall clock at its last beat: for people, never compared by code. */
  last_beat_at: number;
  /** Beats so far: an observer sees a worker live while this number changes. */
  beats: number;
}

export interface WorkerTables {
  workers: WorkersTable;
}
