// One POST of a webhook delivery, to the address the target check pinned. Certificates are
// verified against the host name by the mail path's name rule (certificate-names.ts); extra CA certificates (a private CA, tests) are
// passed per request and never switch verification off.

import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { rootCertificates } from 'node:tls';
import { checkWebPkiHostName } from '../security/certificate-names.ts';
import type { WebhookTarget } from './webhook-target.ts';

// A receiver's answer is not read beyond this; only its status matters.
const MAX_RESPONSE_BYTES = 64 * 1024;
const MAX_ERROR_TEXT = 300;

export interface PostOptions {
  timeoutMs: number;
  /** Extra trusted CA certificates (PEM), in addition to Node's bundled roots. */
  ca?: string | readonly string[] | undefined;
}

export type PostResult = { ok: true; status: number } | { ok: false; error: string };

export function postWebhook(
  target: WebhookTarget,
  body: string,
  headers: Record<string, string>,
  options: PostOptions,
): Promise<PostResult> {
  const pinned: LookupFunction = (_hostname, lookupOptions, callback) => {
    if ((lookupOptions as { all?: boolean }).all === true) {
      (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
        { address: target.address, family: target.family },
      ]);
    } else {
      callback(null, target.address, target.family);
    }
  };
  const extraCa = options.ca === undefined ? undefined : withBundledRoots(options.ca);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: PostResult) => {
      if (!settled) {
        settled = true;
        resolve(result);
      }
    };
    const request = https.request(
      {
        host: target.host,
        port: target.port,
        path: `${target.url.pathname}${target.url.search}`,
        method: 'POST',
        lookup: pinned,
        ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
        ...(extraCa === undefined ? {} : { ca: extraCa }),
        // The name rule of the mail path (no partial wildcards), not Node's default.
        checkServerIdentity: checkWebPkiHostName,
        // No keep-alive pool: every delivery connects to the address just checked.
        agent: false,
        timeout: options.timeoutMs,
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'SecureMail-Webhooks/1',
        },
      },
      (response) => {
        const status = response.statusCode ?? 0;
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_RESPONSE_BYTES) response.destroy();
        });
        const done = () =>
          finish(
            status >= 200 && status < 300
              ? { ok: true, status }
              : {
                  ok: false,
                  error:
                    status >= 300 && status < 400
                      ? `HTTP ${status}: redirects are not followed`
                      : `HTTP ${status}`,
                },
          );
        response.on('end', done);
        response.on('close', done);
        response.on('error', done);
      },
    );
    request.on('timeout', () =>
      request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)),
    );
    request.on('error', (error) =>
      finish({ ok: false, error: error.message.slice(0, MAX_ERROR_TEXT) }),
    );
    request.end(body);
  });
}

// Passing `ca` replaces Node's bundled roots, so they are added back: a private CA is an
// addition for one request, never a replacement of the public trust store.
function withBundledRoots(ca: string | readonly string[]): string[] {
  return [...rootCertificates, ...(typeof ca === 'string' ? [ca] : ca)];
}
