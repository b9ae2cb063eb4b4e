// DKIM key pairs of a sending domain. Every generation has two selectors: RSA-2048 (what every
// verifier understands, RFC 6376) and Ed25519 (RFC 8463), and mail is signed with both. The
// private keys leave this module only sealed with the master key, or decrypted for signing.

import { generateKeyPair, type KeyObject, randomBytes, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { openText, sealToText } from '../secrets/sealed-box.ts';
import type { DkimAlgorithm, DkimKey, DkimKeyStatus } from '../store/schema.ts';

const generate = promisify(generateKeyPair);

/** RFC 8301 3.2: at least 1024 bits, 2048 recommended; larger keys do not fit DNS well. */
export const DKIM_RSA_BITS = 2048;
/** The 12-byte DER header of an Ed25519 SubjectPublicKeyInfo; the raw key follows it. */
const ED25519_SPKI_HEADER = 12;

export interface DkimSigningKey {
  /** The `d=` domain. */
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  /** PKCS#8 PEM, as nodemailer's DKIM option takes it. */
  privateKey: string;
}

/** The DKIM TXT record value for a public key (RFC 6376 3.6.1, RFC 8463 4). */
export function dkimRecordValue(algorithm: DkimAlgorithm, publicKey: string): string {
  return `v=DKIM1; k=${algorithm}; p=${publicKey}`;
}

export function dkimHostname(selector: string, domain: string): string {
  return `${selector}._domainkey.${domain}`;
}

/** The seal context binds a sealed key to its account and selector. */
function sealContext(accountId: string, selector: string): string {
  return `dkim_keys:${accountId}:${selector}`;
}

/** A selector stem not used before, e.g. `sm202611-3fa9`: dated, so an operator can tell generations apart. */
export function newSelectorStem(now: number): string {
  const date = new Date(now);
  const month = `${date.getUTCFullYear()}${String(date.getUTCMonth() + 1).padStart(2, '0')}`;
  return `sm${month}-${randomBytes(2).toString('hex')}`;
}

async function keyPair(
  algorithm: DkimAlgorithm,
): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return algorithm === 'rsa'
    ? generate('rsa', { modulusLength: DKIM_RSA_BITS })
    : generate('ed25519');
}

function publicKeyValue(algorithm: DkimAlgorithm, key: KeyObject): string {
  const spki = key.export({ format: 'der', type: 'spki' });
  // RSA: the whole SubjectPublicKeyInfo; Ed25519: only the 32 raw key bytes (RFC 8463 4.2).
  return (algorithm === 'rsa' ? spki : spki.subarray(ED25519_SPKI_HEADER)).toString('base64');
}

/** A new generation of keys (RSA and Ed25519) for an account, private keys sealed. */
export async function generateDkimKeys(
  masterKey: Buffer,
  accountId: string,
  status: DkimKeyStatus,
  now: number,
): Promise<DkimKey[]> {
  const stem = newSelectorStem(now);
  const algorithms: DkimAlgorithm[] = ['rsa', 'ed25519'];
  return Promise.all(
    algorithms.map(async (algorithm) => {
      const selector = `${stem}-${algorithm === 'rsa' ? 'rsa' : 'ed'}`;
      const pair = await keyPair(algorithm);
      const pem = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      return {
        id: randomUUID(),
        account_id: accountId,
        selector,
        algorithm,
        public_key: publicKeyValue(algorithm, pair.publicKey),
        private_key_sealed: sealToText(
          masterKey,
          'dkim-private-key',
          sealContext(accountId, selector),
          pem,
        ),
        status,
        created_at: now,
        activated_at: status === 'active' ? now : null,
        retired_at: null,
      };
    }),
  );
}

/** Decrypts a stored key for signing. Throws SealedBoxError when the master key is wrong. */
export function unsealDkimKey(masterKey: Buffer, domain: string, key: DkimKey): DkimSigningKey {
  const pem = openText(
    masterKey,
    'dkim-private-key',
    sealContext(key.account_id, key.selector),
    key.private_key_sealed,
  );
  return { domain, selector: key.selector, algorithm: key.algorithm, privateKey: pem.toString() };
}
