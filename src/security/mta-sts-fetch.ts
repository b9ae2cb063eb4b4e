// Fetching the MTA-STS policy file (RFC 8461 3.3): HTTPS with Web PKI validation (plus the
// operator's extra CAs), no redirects, a size and a time limit, text/plain only.
import https from 'node:https';
import type { Resolver } from '../dns/types.ts';
import type { AddressPolicy } from '../net/address-ranges.ts';
import { checkWebPkiHostName } from './certificate-names.ts';
import { trustedCas } from './certificates.ts';
import { MAX_STS_POLICY_OCTETS, parseStsPolicy, type StsPolicy } from './mta-sts-policy.ts';
import { lookupVia } from './resolver-lookup.ts';

export const STS_POLICY_PATH = '/.well-known/mta-sts.txt';

export interface StsFetchOptions {
  resolver: Resolver;
  extraCa: readonly string[];
  /** 443 in production; tests use an ephemeral port. */
  port: number;
  timeoutMs: number;
  addressPolicy: AddressPolicy;
}

export type StsFetchError = 'sts-policy-fetch-error' | 'sts-policy-invalid' | 'sts-webpki-invalid';

export type StsFetchResult =
  | { ok: true; policy: StsPolicy }
  | {
      ok: false;
      reason: StsFetchError;
      detail: string;
      /**
       * True when the failure may clear up by itself (a network error, a timeout, a DNS
       * failure for the policy host, an HTTP 5xx): the policy is then unknown rather than
       * absent or broken, and without a cached one the hosts cannot be judged now.
       */
      temporary: boolean;
    };

/** Socket and DNS errors that say nothing about the policy, only about the path to it now. */
const TEMPORARY_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
]);

/** HTTP statuses that say nothing lasting about the policy: 5xx, 408, 429. */
const PASSING_STATUS = (status: number): boolean =>
  status >= 500 || status === 408 || status === 429;

// Node/OpenSSL codes for a certificate the Web PKI does not accept.
const WEBPKI_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export function fetchStsPolicy(
  domain: string,
  id: string,
  options: StsFetchOptions,
): Promise<StsFetchResult> {
  const host = `mta-sts.${domain}`;
  return new Promise((resolve) => {
    let settled = false;
    const fail = (reason: StsFetchError, detail: string, temporary = false) =>
      finish({ ok: false, reason, detail, temporary });
    const finish = (result: StsFetchResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve(result);
    };
    const request = https.request({
      host,
      servername: host,
      port: options.port,
      path: STS_POLICY_PATH,
      method: 'GET',
      ca: trustedCas(options.extraCa),
      // Node's chain verification stays the gate (it calls checkServerIdentity only after
      // the chain passed); only the name rule is replaced, see checkWebPkiHostName.
      rejectUnauthorized: true,
      checkServerIdentity: checkWebPkiHostName,
      // Our resolver, and only addresses on the internet (or allowed networks): the policy
      // host name is the recipient's to choose, so it must not reach our own networks.
      lookup: lookupVia(options.resolver, options.addressPolicy),
      agent: false,
      headers: { accept: 'text/plain' },
    });
    const timer = setTimeout(
      () => fail('sts-policy-fetch-error', `no policy within ${options.timeoutMs} ms`, true),
      options.timeoutMs,
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? '';
      const detail = `${code || 'error'}: ${error.message}`;
      if (WEBPKI_ERRORS.has(code)) fail('sts-webpki-invalid', detail);
      else fail('sts-policy-fetch-error', detail, TEMPORARY_ERRORS.has(code));
    });
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      if (status >= 300 && status < 400) {
        fail('sts-policy-invalid', `redirect (${status}) is not allowed`);
        return;
      }
      if (status !== 200) {
        // A server error may pass, and so may "too many requests" and "request timeout"
        // (a busy policy host is no answer about the policy); a 404 says it is not there.
        fail('sts-policy-fetch-error', `HTTP status ${status}`, PASSING_STATUS(status));
        return;
      }
      const mediaType = (response.headers['content-type'] ?? '')
        .split(';')[0]!
        .trim()
        .toLowerCase();
      if (mediaType !== 'text/plain') {
        fail('sts-policy-invalid', `content type ${mediaType || 'missing'}`);
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_STS_POLICY_OCTETS) {
          fail('sts-policy-invalid', `policy larger than ${MAX_STS_POLICY_OCTETS} octets`);
          return;
        }
        chunks.push(chunk);
      });
      response.on('error', (error) => fail('sts-policy-fetch-error', error.message, true));
      response.on('end', () => {
        const parsed = parseStsPolicy(Buffer.concat(chunks).toString('utf8'), id);
        if (parsed.ok) finish(parsed);
        else fail('sts-policy-invalid', parsed.detail);
      });
    });
    request.end();
  });
}
