// One attempt: one connection to one address of one MX host, from the greeting to a
// verified TLS session (or a reason why not). Steps 4 to 7 of SECURITY_POLICY.md.
import type { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import type { TlsaRecord } from '../dns/types.ts';
import type { AuthMethod } from '../vocabulary/policy-levels.ts';
import type { ReasonCode } from '../vocabulary/reasons.ts';
import { judgePkix, peerChain, summarise, trustedCas } from './certificates.ts';
import { daneNames, verifyDane } from './dane.ts';
import type { HostEvidence } from './evidence.ts';
import { addressPolicyOf, type SecurityOptions } from './options.ts';
import { SmtpClient, type SmtpConnectOptions } from './smtp-client.ts';
import { SmtpError } from './smtp-reply.ts';
import {
  type KeyExchangeInfo,
  OFFERED_GROUPS,
  OFFERED_TLS12_CIPHERS,
  OFFERED_TLS13_CIPHERS,
  parameterFailure,
  rateParameters,
  type TlsParameters,
} from './tls-policy.ts';
import type { ResumableSession, VerifiedHandshake } from './tls-resumption.ts';

/**
 * The TLS context every verified attempt offers: TLS 1.2+, our cipher and group lists, the
 * Web PKI roots plus the operator's CAs. Built once per CA list and shared by connections:
 * building it parses every root certificate, about 4 ms of CPU (measured), more than the
 * handshake itself, paid by every new connection before. Only the context is shared; each
 * connection still verifies its own peer.
 */
const contexts = new Map<string, SecureContext>();

function offeringContext(extraCa: readonly string[]): SecureContext {
  const key = extraCa.join('\n');
  let context = contexts.get(key);
  if (context === undefined) {
    context = createSecureContext({
      minVersion: 'TLSv1.2',
      ciphers: `${OFFERED_TLS13_CIPHERS}:${OFFERED_TLS12_CIPHERS}`,
      ecdhCurve: OFFERED_GROUPS,
      ca: trustedCas(extraCa),
    });
    // A handful of CA lists in a process (one per configuration); bounded all the same.
    if (contexts.size >= 8) contexts.clear();
    contexts.set(key, context);
  }
  return context;
}

export interface AttemptInput {
  recipientDomain: string;
  mxHost: string;
  address: string;
  method: AuthMethod;
  /** Usable TLSA records when `method` is `dane`. */
  tlsa: readonly TlsaRecord[];
  /** Where the TLSA records were found: `mxHost`, or its CNAME-expanded name (RFC 7672 2.2.2). */
  tlsaBase?: string;
  options: Readonly<SecurityOptions>;
  /**
   * A TLS session to offer for resumption, already found fit for this host, address,
   * method, level and domain (tls-resumption.ts mayResume). When the server resumes it, no
   * certificate is presented and the first handshake's verification stands; when it does
   * not, the full handshake is verified as always.
   */
  resume?: ResumableSession;
}

export type AttemptOutcome =
  | {
      ok: true;
      client: SmtpClient;
      /** The certificates that passed (leaf first): the socket does not keep them for later. */
      chain: X509Certificate[];
      /** The full handshake this session's verification stands on (its own, or resumed). */
      handshake: VerifiedHandshake;
    }
  | { ok: false; reason: ReasonCode; detail: string };

/** Bytes of injected data kept in evidence; enough to see what it was. */
const MAX_INJECTED_EVIDENCE_OCTETS = 512;

/** Fills `evidence` (tls, certificate, validation, transcript) as it goes. */
export async function attemptAddress(
  input: AttemptInput,
  evidence: HostEvidence,
): Promise<AttemptOutcome> {
  const { options } = input;
  // assessHost already left such addresses out; this is the last gate before a socket opens,
  // so no other path (a session pool, a future caller) can reach an internal address.
  const forbidden = addressPolicyOf(options).refusal(input.address);
  if (forbidden !== undefined) {
    return {
      ok: false,
      reason: 'mx-address-forbidden',
      detail: `${input.address} is a ${forbidden} address, outside the public internet`,
    };
  }
  const connect: SmtpConnectOptions = {
    address: input.address,
    port: options.smtpPort,
    host: input.mxHost,
    ehloName: options.ehloName,
    connectTimeoutMs: options.connectTimeoutMs,
    commandTimeoutMs: options.commandTimeoutMs,
    dataTimeoutMs: options.dataTimeoutMs,
    now: options.now,
  };
  let client: SmtpClient | undefined;
  try {
    client = await SmtpClient.connect(connect);
    await client.ehlo();
    if (!client.capabilities.has('STARTTLS')) {
      // DNSSEC-signed TLSA records say this host speaks TLS (RFC 7672 2.2), so a missing
      // STARTTLS is more likely a man in the middle than the server's final word: defer,
      // so that stripping it cannot turn the recipient into a bounce. Without DANE nothing
      // authenticated says so, and the refusal stands. Either way nothing is sent.
      if (input.method === 'dane') {
        return await fail(
          client,
          'dane-starttls-missing',
          'STARTTLS is not advertised, though the host has DNSSEC-signed TLSA records',
        );
      }
      return await fail(client, 'starttls-not-supported', 'STARTTLS is not advertised');
    }
    const socket = await client.startTls({
      // RFC 7672 8.1: SNI names the TLSA base domain (the server behind an alias may keep
      // its certificates by its own name).
      servername: input.method === 'dane' ? (input.tlsaBase ?? input.mxHost) : input.mxHost,
      secureContext: offeringContext(options.extraCa),
      // Node's own verification is not the decision: DANE-EE must accept self-signed
      // certificates. The verifier below ALWAYS runs, and the session refuses MAIL FROM
      // until markVerified() is called after it passed.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      ...(input.resume ? { session: input.resume.session } : {}),
    });
    if (client.injectedAfterStartTls) {
      evidence.injectedAfterStartTls = client.injectedAfterStartTls
        .subarray(0, MAX_INJECTED_EVIDENCE_OCTETS)
        .toString('hex');
      evidence.validation.push('starttls: bytes after 220 discarded (response injection)');
    }
    const params = rateParameters(
      socket.getProtocol() ?? 'unknown',
      socket.getCipher(),
      keyExchangeOf(socket),
    );
    evidence.tls = params;
    if (socket.isSessionReused()) return await resumed(client, input, params, evidence);
    const chain = peerChain(socket);
    if (chain[0]) evidence.certificate = summarise(chain[0]);
    evidence.chain = chain.slice(1).map(summarise);
    const paramFailure = parameterFailure(params);
    if (paramFailure) return await fail(client, paramFailure, describeParams(params));
    evidence.validation.push(`tls: ${describeParams(params)}`);

    const now = options.now();
    switch (input.method) {
      case 'dane': {
        const dane = verifyDane(input.tlsa, chain, daneNames(input), now);
        evidence.validation.push(
          `dane: ${dane.ok ? `${dane.detail} ${dane.matched}` : dane.detail}`,
        );
        if (!dane.ok) return await fail(client, dane.reason, dane.detail);
        if (evidence.tlsa) evidence.tlsa.matched = dane.matched;
        break;
      }
      case 'mta-sts':
      case 'pkix': {
        const pkix = judgePkix(socket, input.mxHost, now, input.method);
        evidence.validation.push(
          `${input.method}: ${pkix.ok ? 'chain, validity and name ok' : pkix.detail}`,
        );
        if (!pkix.ok) return await fail(client, pkix.reason, pkix.detail);
        break;
      }
      default: {
        const never: never = input.method;
        throw new Error(`unknown method ${String(never)}`);
      }
    }
    await client.ehlo();
    client.markVerified(input.method);
    const handshake: VerifiedHandshake = {
      host: input.mxHost,
      address: input.address,
      port: options.smtpPort,
      method: input.method,
      level: options.policyLevel,
      chain,
      authorized: socket.authorized,
      verifiedAt: now.getTime(),
      evidence: {
        ...(evidence.certificate ? { certificate: evidence.certificate } : {}),
        ...(evidence.chain ? { chain: evidence.chain } : {}),
        validation: [...evidence.validation],
      },
    };
    return { ok: true, client, chain, handshake };
  } catch (error) {
    client?.close();
    if (!(error instanceof SmtpError)) throw error;
    if (error.step === 'tls-handshake' && error.kind === 'tls') {
      return diagnoseHandshake(connect, error, evidence);
    }
    return { ok: false, ...classifySmtpError(error) };
  } finally {
    if (client) evidence.transcript.push(...client.transcript);
  }
}

/**
 * The server resumed the TLS session offered: no certificate was presented, and the session
 * stands on its first handshake, which this engine verified for the same host, address,
 * method and level and whose certificates still satisfy this domain now (checked before the
 * session was offered). The TLS parameters are this connection's and judged as always; the
 * certificate evidence is the first handshake's.
 */
async function resumed(
  client: SmtpClient,
  input: AttemptInput,
  params: TlsParameters,
  evidence: HostEvidence,
): Promise<AttemptOutcome> {
  if (input.resume === undefined) {
    // OpenSSL resumes only what it was offered; should that ever differ, nothing is trusted.
    return fail(client, 'validation-failure', 'a TLS session was resumed that was not offered');
  }
  const first = input.resume.handshake;
  const paramFailure = parameterFailure(params);
  if (paramFailure) return fail(client, paramFailure, describeParams(params));
  if (first.evidence.certificate) evidence.certificate = first.evidence.certificate;
  if (first.evidence.chain) evidence.chain = first.evidence.chain;
  const verifiedAt = new Date(first.verifiedAt).toISOString();
  evidence.resumed = { verifiedAt };
  evidence.validation.push(
    `tls: ${describeParams(params)}`,
    `tls: session resumed; no certificate presented; its full handshake of ${verifiedAt} passed: ${first.evidence.validation.join('; ')}`,
  );
  await client.ehlo();
  client.markVerified(input.method);
  return { ok: true, client, chain: [...first.chain], handshake: first };
}

async function fail(
  client: SmtpClient,
  reason: ReasonCode,
  detail: string,
): Promise<AttemptOutcome> {
  await client.quit();
  return { ok: false, reason, detail };
}

function keyExchangeOf(socket: TLSSocket): KeyExchangeInfo {
  // Node returns {} without ephemeral key exchange (static RSA) and null on the server side.
  return (socket.getEphemeralKeyInfo() ?? {}) as KeyExchangeInfo;
}

function describeParams(params: TlsParameters): string {
  return (
    `${params.version} (${params.versionRating}), ${params.cipherStandardName} (${params.cipherRating}), ` +
    `${params.keyExchange} (${params.keyExchangeRating})`
  );
}

export function classifySmtpError(error: SmtpError): { reason: ReasonCode; detail: string } {
  const detail = error.message;
  if (error.step === 'starttls' && error.reply) {
    // 454 "TLS not available due to temporary reason" (RFC 3207); 5xx: not supported.
    return {
      reason: error.reply.code < 500 ? 'starttls-refused' : 'starttls-not-supported',
      detail,
    };
  }
  switch (error.kind) {
    case 'reply':
      return { reason: error.permanent ? 'smtp-permanent-error' : 'smtp-temporary-error', detail };
    case 'timeout':
      return { reason: error.step === 'connect' ? 'connection-failed' : 'smtp-timeout', detail };
    case 'network':
    case 'closed':
      return { reason: 'connection-failed', detail };
    case 'protocol':
    case 'usage':
      return { reason: 'smtp-permanent-error', detail };
    case 'tls':
      return { reason: 'tls-handshake-failed', detail };
    default: {
      const never: never = error.kind;
      throw new Error(`unknown error kind ${String(never)}`);
    }
  }
}

// OpenSSL alerts that mean "we could not agree" rather than a broken connection.
const VERSION_ALERT = /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION_NUMBER/;
const NEGOTIATION_ALERT = /HANDSHAKE_FAILURE|NO_SHARED_CIPHER|INSUFFICIENT_SECURITY|NO_SUITABLE/;

/**
 * After a handshake we refused (or the server refused), find out why with a second,
 * permissive handshake that is closed right away: nothing but EHLO and STARTTLS is ever
 * sent on it. That tells "TLS 1.0 only" and "only static RSA" apart from network trouble,
 * and records what the server actually offers.
 */
async function diagnoseHandshake(
  connect: SmtpConnectOptions,
  error: SmtpError,
  evidence: HostEvidence,
): Promise<AttemptOutcome> {
  const code = error.causeCode ?? '';
  const fallback: ReasonCode = VERSION_ALERT.test(code)
    ? 'tls-version-too-low'
    : NEGOTIATION_ALERT.test(code)
      ? 'cipher-not-acceptable'
      : 'tls-handshake-failed';
  evidence.validation.push(`tls: handshake failed (${code || error.message})`);
  if (fallback === 'tls-handshake-failed')
    return { ok: false, reason: fallback, detail: error.message };
  let probe: SmtpClient | undefined;
  try {
    probe = await SmtpClient.connect(connect);
    await probe.ehlo();
    const socket = await probe.startTls({
      servername: connect.host,
      minVersion: 'TLSv1',
      ciphers: 'ALL:@SECLEVEL=0',
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
    const params = rateParameters(
      socket.getProtocol() ?? 'unknown',
      socket.getCipher(),
      keyExchangeOf(socket),
    );
    evidence.tlsProbe = params;
    evidence.validation.push(`tls probe: ${describeParams(params)}`);
    return {
      ok: false,
      reason: parameterFailure(params) ?? fallback,
      detail: describeParams(params),
    };
  } catch {
    return { ok: false, reason: fallback, detail: error.message };
  } finally {
    probe?.close();
  }
}
