// RSA-2048 DKIM signatures on worker threads. A signature costs about 0.26 ms of CPU on the
// CI machine kind and cannot get cheaper; on a thread it runs beside the event loop (TLS,
// SQLite), on another core when there is one. Requests are posted in batches, one message
// per event-loop turn each way: measured (delivery bench, 8,000 messages) 0.71 -> 0.64 ms
// CPU per message, end to end 0.99 -> 0.94 ms (fewer thread wake-ups on both sides).
// Ed25519 signatures (tens of microseconds) stay on the calling thread: posting them would
// cost more than signing.

import type { KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { type PreparedSigningKey, type Signer, signHere } from './dkim-sign.ts';

interface Pending {
  resolve: (signature: Buffer) => void;
  reject: (error: Error) => void;
}

interface Request {
  id: number;
  keyId: number;
  key?: KeyObject;
  data: Buffer;
}

interface Thread {
  worker: Worker;
  /** Key ids this thread already holds. */
  keys: Set<number>;
  pending: Map<number, Pending>;
  /** Requests of this event-loop turn, posted together in the check phase. */
  batch: Request[];
}

export class SigningThreads {
  readonly #threads: Thread[] = [];
  readonly #keyIds = new WeakMap<KeyObject, number>();
  #nextKey = 1;
  #nextRequest = 1;
  #turn = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(new URL('./signing-thread.ts', import.meta.url));
      // An idle thread never keeps the process alive; one with requests in flight does
      // (ref'd while it has any), or the event loop could end while a signature is awaited.
      worker.unref();
      const thread: Thread = { worker, keys: new Set(), pending: new Map(), batch: [] };
      worker.on(
        'message',
        (answers: Array<{ id: number; signature?: Uint8Array; error?: string }>) => {
          for (const m of answers) {
            const p = thread.pending.get(m.id);
            if (p === undefined) continue;
            thread.pending.delete(m.id);
            if (m.signature !== undefined) p.resolve(Buffer.from(m.signature));
            else p.reject(new Error(m.error ?? 'signing failed'));
          }
          if (thread.pending.size === 0) worker.unref();
        },
      );
      worker.on('error', (error) => {
        for (const p of thread.pending.values()) p.reject(error);
        thread.pending.clear();
        worker.unref();
      });
      this.#threads.push(thread);
    }
  }

  readonly sign: Signer = (key: PreparedSigningKey, data: Buffer) => {
    if (key.algorithm !== 'rsa-sha256' || this.#threads.length === 0) return signHere(key, data);
    const thread = this.#threads[this.#turn++ % this.#threads.length]!;
    let keyId = this.#keyIds.get(key.key);
    if (keyId === undefined) {
      keyId = this.#nextKey++;
      this.#keyIds.set(key.key, keyId);
    }
    const id = this.#nextRequest++;
    const withKey = !thread.keys.has(keyId);
    thread.keys.add(keyId);
    return new Promise<Buffer>((resolve, reject) => {
      if (thread.pending.size === 0) thread.worker.ref();
      thread.pending.set(id, { resolve, reject });
      // Posted in the check phase with the other requests of this event-loop turn: replies
      // that arrive together start several messages' signatures at once, and one message
      // to the thread (and one back) serves them all.
      if (thread.batch.length === 0) setImmediate(() => this.#post(thread));
      thread.batch.push({ id, keyId, data, ...(withKey ? { key: key.key } : {}) });
    });
  };

  #post(thread: Thread): void {
    const batch = thread.batch;
    thread.batch = [];
    if (batch.length > 0) thread.worker.postMessage(batch);
  }

  /**
   * Ends the threads. Not awaited: an unref'd thread's exit does not hold the event loop
   * open, so awaiting terminate() could stay pending forever (seen in tests).
   */
  close(): void {
    const threads = this.#threads.splice(0);
    for (const t of threads) {
      void t.worker.terminate();
      for (const p of t.pending.values()) p.reject(new Error('signing threads closed'));
    }
  }
}
