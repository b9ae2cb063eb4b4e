// DKIM signing (RFC 6376, relaxed/relaxed) with mailauth, once per message: every recipient
// of the message gets the same signed bytes.

import { dkimSign } from 'mailauth/lib/dkim/sign.js';

export interface SigningKey {
  /** The d= domain: the account's domain. */
  domain: string;
  selector: string;
  /** PEM, decrypted just for signing. */
  privateKey: string;
}

export class DkimError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DkimError';
  }
}

/** The message with DKIM-Signature headers in front, one per key. */
export async function signMessage(
  message: Buffer,
  keys: readonly SigningKey[],
  now: number,
): Promise<Buffer> {
  if (keys.length === 0) throw new DkimError('no DKIM key to sign with');
  const [first, ...rest] = keys;
  const result = await dkimSign(message, {
    signingDomain: first!.domain,
    selector: first!.selector,
    privateKey: first!.privateKey,
    canonicalization: 'relaxed/relaxed',
    signTime: new Date(now),
    signatureData: [first!, ...rest].map((k) => ({
      signingDomain: k.domain,
      selector: k.selector,
      privateKey: k.privateKey,
      canonicalization: 'relaxed/relaxed',
    })),
  });
  if (result.errors && result.errors.length > 0) {
    throw new DkimError(
      `DKIM signing failed: ${result.errors.map((e) => JSON.stringify(e)).join('; ')}`,
    );
  }
  if (result.signatures === '') throw new DkimError('DKIM signing produced no signature');
  return Buffer.concat([Buffer.from(result.signatures, 'utf8'), message]);
}
