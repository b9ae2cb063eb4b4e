// A message as it goes out: its sealed body opened and DKIM-signed once, shared by all its
// recipients the worker holds. The worker claims continuously, so there are no rounds to
// keep a message for: each message is kept while any of its recipients is held (claimed and
// not yet recorded), and dropped with the last one. A bulk message to 10,000 recipients is
// opened and signed once while its recipients keep coming, and its body is in memory once,
// not once per recipient. The account's keys are kept decrypted and parsed for a while; RSA
// signatures run on signing threads when the worker has them.

import { open } from '../secrets/sealed-box.ts';
import type { Store } from '../store/database.ts';
import { type ClaimedRecipient, sealedBodies } from '../store/delivery.repository.ts';
import {
  type PreparedSigningKey,
  prepareSigningKeys,
  type SigningKey,
  signHere,
  signMessageWith,
} from './dkim-sign.ts';
import { SigningThreads } from './signing-threads.ts';

export interface PreparedMessage {
  signed: Buffer;
  size: number;
}

export interface MessagePreparerDeps {
  store: Store;
  masterKey: Buffer;
  /** The keys to sign an account's mail with (decrypted). */
  signingKeys: (accountId: string) => Promise<SigningKey[]>;
  /** Threads for RSA DKIM signatures (0: sign on the event loop). */
  signingThreads: number;
  now: () => number;
}

/** How long decrypted DKIM keys are reused. */
const KEY_CACHE_MS = 60_000;

/**
 * Bodies of messages up to this size are read for a whole claim in one query (at most the
 * held recipients' messages are in memory at once); larger ones are read when they are sent.
 */
export const PREFETCH_BODY_MAX = 64 * 1024;

/**
 * Signed messages in memory at once, in bytes: a message that would go over waits until
 * others are done (one is always allowed, however large). Hundreds of connections with
 * messages of up to 25 MB in flight would otherwise hold gigabytes.
 */
export const PREPARED_BYTES_MAX = 256 * 1024 * 1024;

interface Held {
  /** Held recipients of the message. */
  holders: number;
  /** The sealed body read with the claim (small messages). */
  sealed: string | undefined;
  prepared: Promise<PreparedMessage> | undefined;
  /** Bytes reserved in the budget for its signed form (0 until prepared). */
  reserved: number;
}

export class MessagePreparer {
  readonly #deps: MessagePreparerDeps;
  readonly #keys = new Map<string, { at: number; keys: Promise<PreparedSigningKey[]> }>();
  readonly #held = new Map<string, Held>();
  #bytes = 0;
  readonly #waitingForBytes: Array<() => void> = [];
  #signing: SigningThreads | undefined;

  constructor(deps: MessagePreparerDeps) {
    this.#deps = deps;
  }

  /** Messages held now (tests and the benchmark). */
  get heldMessages(): number {
    return this.#held.size;
  }

  /**
   * Holds the messages of newly claimed recipients (one hold per recipient), and reads the
   * sealed bodies of the small ones not held yet in one query: one round trip on
   * PostgreSQL instead of one per message.
   */
  async hold(claimed: readonly ClaimedRecipient[]): Promise<void> {
    const toRead: string[] = [];
    for (const r of claimed) {
      let held = this.#held.get(r.messageId);
      if (held === undefined) {
        held = { holders: 0, sealed: undefined, prepared: undefined, reserved: 0 };
        this.#held.set(r.messageId, held);
        if (r.size <= PREFETCH_BODY_MAX) toRead.push(r.messageId);
      }
      held.holders++;
    }
    if (toRead.length === 0) return;
    const bodies = await sealedBodies(this.#deps.store.db, toRead);
    for (const [id, sealed] of bodies) {
      const held = this.#held.get(id);
      if (held !== undefined && held.prepared === undefined) held.sealed = sealed;
    }
  }

  /** A recipient is done with (recorded or handed back): its message goes with the last one. */
  letGo(r: ClaimedRecipient): void {
    const held = this.#held.get(r.messageId);
    if (held === undefined) return;
    if (--held.holders > 0) return;
    this.#held.delete(r.messageId);
    this.#free(held.reserved);
  }

  /** The recipient's message, signed; prepared once however many recipients it has. */
  preparedFor(r: ClaimedRecipient): Promise<PreparedMessage> {
    let held = this.#held.get(r.messageId);
    if (held === undefined) {
      // Not held (a caller outside the claim flow): prepared for this call only.
      held = { holders: 0, sealed: undefined, prepared: undefined, reserved: 0 };
      return this.#prepare(r, held);
    }
    held.prepared ??= this.#prepare(r, held);
    return held.prepared;
  }

  /** Ends the signing threads. */
  close(): void {
    const signing = this.#signing;
    this.#signing = undefined;
    signing?.close();
  }

  async #prepare(r: ClaimedRecipient, held: Held): Promise<PreparedMessage> {
    await this.#reserve(r.messageId, held, r.size);
    const sealed =
      held.sealed ?? (await sealedBodies(this.#deps.store.db, [r.messageId])).get(r.messageId);
    // The sealed text is not needed once the message is prepared.
    held.sealed = undefined;
    if (sealed === undefined) throw new Error('the message body is no longer stored');
    const body = open(
      this.#deps.masterKey,
      'message-body',
      r.messageId,
      Buffer.from(sealed, 'base64'),
    );
    const keys = await this.#signingKeys(r.accountId);
    if (this.#deps.signingThreads > 0) {
      this.#signing ??= new SigningThreads(this.#deps.signingThreads);
    }
    const signed = await signMessageWith(
      body,
      keys,
      this.#deps.now(),
      this.#signing?.sign ?? signHere,
    );
    return { signed, size: signed.length };
  }

  /** Reserves about the message's size in the budget, waiting while others use it up. */
  async #reserve(messageId: string, held: Held, size: number): Promise<void> {
    while (this.#bytes > 0 && this.#bytes + size > PREPARED_BYTES_MAX) {
      await new Promise<void>((resolve) => this.#waitingForBytes.push(resolve));
    }
    // A message no longer held (or never held) has nobody to give its bytes back.
    if (this.#held.get(messageId) !== held) return;
    this.#bytes += size;
    held.reserved += size;
  }

  #free(bytes: number): void {
    if (bytes === 0) return;
    this.#bytes -= bytes;
    for (const wake of this.#waitingForBytes.splice(0)) wake();
  }

  /**
   * The account's decrypted DKIM keys, kept for KEY_CACHE_MS: fetching and unsealing them
   * for every message was a database query and two AES-GCM opens per message. A rotated key
   * is picked up within that time (rotation keeps the old key published for longer).
   * Measured: 162 -> 178 msg/s, 5.81 -> 5.36 ms CPU/msg. The keys are kept parsed
   * (KeyObjects): mailauth parsed the PEM for every signature, about 9 % of the CPU.
   */
  #signingKeys(accountId: string): Promise<PreparedSigningKey[]> {
    const now = this.#deps.now();
    const cached = this.#keys.get(accountId);
    if (cached !== undefined && now - cached.at < KEY_CACHE_MS) return cached.keys;
    const keys = this.#deps.signingKeys(accountId).then(prepareSigningKeys);
    this.#keys.set(accountId, { at: now, keys });
    keys.catch(() => this.#keys.delete(accountId));
    return keys;
  }
}
