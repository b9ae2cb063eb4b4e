// A small filesystem for the SQLite file, and a way to fill it: a 32 MiB tmpfs mounted in the
// work dir (needs root; the caller reports SKIPPED when the mount is refused), and a filler
// file written until the kernel answers ENOSPC, removed to give the space back.

import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { onCleanup } from './cleanup.ts';

export interface SmallDisk {
  dir: string;
  /** Writes the filler until no byte more fits; returns the bytes it took. */
  fill(): number;
  /** Removes the filler: the space is back. */
  free(): void;
  unmount(): Promise<void>;
}

/** Mounts a tmpfs of `sizeMiB` at `dir`; throws with the reason when it cannot. */
export function mountSmallDisk(dir: string, sizeMiB: number): SmallDisk {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700`, 'tmpfs', dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 10_000,
  });
  const unmount = onCleanup(`tmpfs at ${dir}`, {
    sync: () => {
      // Lazy: a process still holding the SQLite file open must not keep the mount.
      execFileSync('umount', ['-l', dir], { stdio: 'ignore', timeout: 10_000 });
    },
  });
  const filler = path.join(dir, 'filler');
  return {
    dir,
    fill() {
      const fd = openSync(filler, 'a');
      let written = 0;
      try {
        for (const size of [1 << 20, 64 << 10, 4 << 10, 512]) {
          const block = Buffer.alloc(size, 0x5a);
          for (;;) {
            try {
              written += writeSync(fd, block);
            } catch (error) {
              if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw error;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
      return written;
    },
    free() {
      rmSync(filler, { force: true });
    },
    unmount,
  };
}
