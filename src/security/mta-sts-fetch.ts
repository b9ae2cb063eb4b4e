// Fetching the MTA-STS policy file (RFC 8461 3.3): HTTPS with Web PKI validation (plus the
// operator's extra CAs), no redirects, a size and a time limit, text/plain only.
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import type { PeerCertificate } from 'node:tls';
import type { Resolver } from '../dns/types.ts';
import { certificateNamesHost, presentedNames } from './certificate-names.ts';
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
}

export type StsFetchError = 'sts-policy-fetch-error' | 'sts-policy-invalid' | 'sts-webpki-invalid';

export type StsFetchResult =
  | { ok: true; policy: StsPolicy }
  | { ok: false; reason: StsFetchError; detail: string };

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

/**
 * The host-name half of Web PKI validation for the policy host, with the rule used for mail
 * servers (certificate-names.ts) instead of tls.checkServerIdentity, which accepts partial
 * wildcards such as `mta-*.example`. Names from the SAN only: the Web PKI puts every name
 * there. The error code is Node's own for a name mismatch, so it is reported as
 * sts-webpki-invalid like any other certificate the Web PKI does not accept.
 */
function checkPolicyHostName(host: string, peer: PeerCertificate): Error | undefined {
  const cert = new X509Certificate(peer.raw);
  if (certificateNamesHost(cert, host, 'san-only')) return undefined;
  const error: NodeJS.ErrnoException = new Error(
    `the certificate does not name ${host} (it names ${presentedNames(cert, 'san-only').join(', ') || 'nothing usable'})`,
  );
  error.code = 'ERR_TLS_CERT_ALTNAME_INVALID';
  return error;
}

export function fetchStsPolicy(
  domain: string,
  id: string,
  options: StsFetchOptions,
): Promise<StsFetchResult> {
  const host = `mta-sts.${domain}`;
  return new Promise((resolve) => {
    let settled = false;
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
      // the chain passed); only the name rule is replaced, see checkPolicyHostName.
      rejectUnauthorized: true,
      checkServerIdentity: checkPolicyHostName,
      lookup: lookupVia(options.resolver),
      agent: false,
      headers: { accept: 'text/plain' },
    });
    const timer = setTimeout(
      () =>
        finish({
          ok: false,
          reason: 'sts-policy-fetch-error',
          detail: `no policy within ${options.timeoutMs} ms`,
        }),
      options.timeoutMs,
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      const reason =
        error.code && WEBPKI_ERRORS.has(error.code)
          ? 'sts-webpki-invalid'
          : 'sts-policy-fetch-error';
      finish({ ok: false, reason, detail: `${error.code ?? 'error'}: ${error.message}` });
    });
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      if (status >= 300 && status < 400) {
        finish({
          ok: false,
          reason: 'sts-policy-invalid',
          detail: `redirect (${status}) is not allowed`,
        });
        return;
      }
      if (status !== 200) {
        finish({ ok: false, reason: 'sts-policy-fetch-error', detail: `HTTP status ${status}` });
        return;
      }
      const mediaType = (response.headers['content-type'] ?? '')
        .split(';')[0]!
        .trim()
        .toLowerCase();
      if (mediaType !== 'text/plain') {
        finish({
          ok: false,
          reason: 'sts-policy-invalid',
          detail: `content type ${mediaType || 'missing'}`,
        });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_STS_POLICY_OCTETS) {
          finish({
            ok: false,
            reason: 'sts-policy-invalid',
            detail: `policy larger than ${MAX_STS_POLICY_OCTETS} octets`,
          });
          return;
        }
        chunks.push(chunk);
      });
      response.on('error', (error) =>
        finish({ ok: false, reason: 'sts-policy-fetch-error', detail: error.message }),
      );
      response.on('end', () => {
        const parsed = parseStsPolicy(Buffer.concat(chunks).toString('utf8'), id);
        finish(
          parsed.ok ? parsed : { ok: false, reason: 'sts-policy-invalid', detail: parsed.detail },
        );
      });
    });
    request.end();
  });
}
