// The body of one signing thread (signing-threads.ts): RSA-SHA256 signatures with keys it
// was sent once (KeyObjects are cloned into the thread). Requests come in batches: one
// message per event-loop turn of the caller, however many signatures it asks for.

import { type KeyObject, sign } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

interface Request {
  id: number;
  keyId: number;
  key?: KeyObject;
  data: Uint8Array;
}

type Answer = { id: number; signature: Uint8Array } | { id: number; error: string };

const keys = new Map<number, KeyObject>();

parentPort?.on('message', (batch: Request[]) => {
  const answers: Answer[] = batch.map((m) => {
    try {
      if (m.key !== undefined) keys.set(m.keyId, m.key);
      const key = keys.get(m.keyId);
      if (key === undefined) throw new Error('unknown signing key');
      return { id: m.id, signature: sign('sha256', m.data, key) };
    } catch (error) {
      return { id: m.id, error: error instanceof Error ? error.message : 'error' };
    }
  });
  parentPort!.postMessage(answers);
});
