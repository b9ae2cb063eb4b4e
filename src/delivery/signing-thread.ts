// The body of one signing thread (signing-threads.ts): RSA-SHA256 signatures with keys it
// was sent once (KeyObjects are cloned into the thread).

import { type KeyObject, sign } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

const keys = new Map<number, KeyObject>();

parentPort?.on('message', (m: { id: number; keyId: number; key?: KeyObject; data: Uint8Array }) => {
  try {
    if (m.key !== undefined) keys.set(m.keyId, m.key);
    const key = keys.get(m.keyId);
    if (key === undefined) throw new Error('unknown signing key');
    const signature = sign('sha256', m.data, key);
    parentPort!.postMessage({ id: m.id, signature });
  } catch (error) {
    parentPort!.postMessage({ id: m.id, error: error instanceof Error ? error.message : 'error' });
  }
});
