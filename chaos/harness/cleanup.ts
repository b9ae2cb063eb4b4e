// What must not outlive the fault suite: child processes, tmpfs mounts, private PostgreSQL
// clusters, databases on the shared server. Each part registers how to undo itself here; the
// runner undoes everything on a normal end, on a failure and on Ctrl-C (SIGINT/SIGTERM), and
// the synchronous part (kills, umount, pg_ctl stop) even when the process exits abruptly.

type SyncUndo = () => void;
type AsyncUndo = () => Promise<void>;

interface Entry {
  label: string;
  sync: SyncUndo | undefined;
  async: AsyncUndo | undefined;
}

const entries = new Set<Entry>();

/**
 * Registers an undo; returns the function that runs it now (once) and forgets it. `sync` runs
 * even on `process.exit` (it may only do synchronous work); `async` runs first when there is
 * time for it.
 */
export function onCleanup(
  label: string,
  undo: { sync?: SyncUndo; async?: AsyncUndo },
): () => Promise<void> {
  const entry: Entry = { label, sync: undo.sync, async: undo.async };
  entries.add(entry);
  return async () => {
    if (!entries.delete(entry)) return;
    await runEntry(entry);
  };
}

async function runEntry(entry: Entry): Promise<void> {
  try {
    if (entry.async !== undefined) await entry.async();
    else entry.sync?.();
  } catch {
    // The async undo failed (e.g. the database is gone): the sync one is the last resort.
    try {
      entry.sync?.();
    } catch {
      // Nothing more can be done; the runner reports what was left.
    }
  }
}

/** Undoes everything still registered, newest first. Returns what could not be undone. */
export async function cleanupAll(): Promise<string[]> {
  const left: string[] = [];
  for (const entry of [...entries].reverse()) {
    entries.delete(entry);
    try {
      await runEntry(entry);
    } catch {
      left.push(entry.label);
    }
  }
  return left;
}

/** The synchronous undos only: for process 'exit', where nothing asynchronous runs any more. */
export function cleanupAllSync(): void {
  for (const entry of [...entries].reverse()) {
    entries.delete(entry);
    try {
      entry.sync?.();
    } catch {
      // best effort at exit
    }
  }
}
