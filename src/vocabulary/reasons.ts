// Every reason a recipient domain or one of its mail servers can fail the security policy,
// and every other reason a recipient can carry: one list for the engine, the worker, the
// bounce MX and the notifications. TLS-RPT result types (RFC 8460 section 4.3) are used
// where one fits; the rest are ours. Notification e-mails and the pre-flight report reuse
// the explanations and hints below, so each is written for the sender and for the
// recipient's administrator. docs/security.md has a row per ReasonCode (a test checks).

export type ReasonCode =
  // TLS-RPT result types
  | 'starttls-not-supported'
  | 'certificate-host-mismatch'
  | 'certificate-expired'
  | 'certificate-not-trusted'
  | 'validation-failure'
  | 'tlsa-invalid'
  | 'dane-required'
  | 'sts-policy-fetch-error'
  | 'sts-policy-invalid'
  | 'sts-webpki-invalid'
  // Our own
  | 'null-mx'
  | 'no-such-domain'
  | 'no-mail-host'
  | 'sts-mx-mismatch'
  | 'tls-version-too-low'
  | 'cipher-not-acceptable'
  | 'key-exchange-not-acceptable'
  | 'pkix-insecure-mx'
  | 'starttls-refused'
  | 'dane-starttls-missing'
  | 'tls-handshake-failed'
  | 'connection-failed'
  | 'smtp-timeout'
  | 'smtp-temporary-error'
  | 'smtp-permanent-error'
  | 'dns-temporary-failure'
  | 'dns-invalid-answer'
  | 'dnssec-unavailable'
  | 'sts-policy-unreachable'
  | 'mx-address-forbidden'
  | 'host-check-failed'
  // After the connection: outcomes the delivery path records with the same explanations
  | 'requiretls-not-supported'
  | 'smtputf8-not-supported'
  | 'remote-bounce';

/** `refuse` reasons are final for the host; `defer` reasons may clear up on a later attempt. */
export type ReasonClass = 'refuse' | 'defer';

export interface ReasonInfo {
  class: ReasonClass;
  /** What happened, in plain language. */
  explanation: string;
  /** What the recipient domain's administrator could change so mail can be delivered. */
  fix: string;
}

export const REASONS: Readonly<Record<ReasonCode, ReasonInfo>> = {
  'starttls-not-supported': {
    class: 'refuse',
    explanation:
      'The mail server does not offer encryption (STARTTLS), so mail would travel readable.',
    fix: 'Enable STARTTLS on every MX host with a valid certificate.',
  },
  'certificate-host-mismatch': {
    class: 'refuse',
    explanation: "The mail server's certificate is not issued for the mail server's name.",
    fix: 'Install a certificate whose subject alternative names include the MX host name.',
  },
  'certificate-expired': {
    class: 'refuse',
    explanation: "The mail server's certificate has expired.",
    fix: 'Renew the certificate on the mail server (and automate renewal).',
  },
  'certificate-not-trusted': {
    class: 'refuse',
    explanation:
      "The mail server's certificate is not issued by a trusted certificate authority (for example self-signed).",
    fix: 'Use a certificate from a public CA, or publish DANE TLSA records in a DNSSEC-signed zone.',
  },
  'validation-failure': {
    class: 'refuse',
    explanation: "The mail server's certificate could not be validated.",
    fix: 'Check the certificate chain the server presents (leaf plus intermediates).',
  },
  'tlsa-invalid': {
    class: 'refuse',
    explanation:
      "The domain publishes DANE (TLSA) records, but the mail server's certificate matches none of them.",
    fix: 'Update the TLSA records to the current certificate or key (publish the new one before rolling over).',
  },
  'dane-required': {
    class: 'refuse',
    explanation:
      'The sending account requires DANE, and this mail server has no DNSSEC-validated TLSA records.',
    fix: 'Sign the zone with DNSSEC and publish TLSA records (3 1 1) for each MX host.',
  },
  'sts-policy-fetch-error': {
    class: 'refuse',
    explanation: 'The MTA-STS policy announced by the domain could not be downloaded.',
    fix: 'Make https://mta-sts.<domain>/.well-known/mta-sts.txt reachable, or remove the _mta-sts TXT record.',
  },
  'sts-policy-invalid': {
    class: 'refuse',
    explanation:
      'The MTA-STS policy of the domain is invalid (bad syntax, wrong content type, too large, or served with a redirect).',
    fix: 'Serve a valid policy as text/plain directly at /.well-known/mta-sts.txt, without redirects.',
  },
  'sts-webpki-invalid': {
    class: 'refuse',
    explanation: 'The MTA-STS policy web server does not present a valid, trusted certificate.',
    fix: 'Install a publicly trusted certificate for mta-sts.<domain>.',
  },
  'null-mx': {
    class: 'refuse',
    explanation: 'The domain declares that it accepts no e-mail (null MX record).',
    fix: 'Publish real MX records if the domain should receive mail.',
  },
  'no-such-domain': {
    class: 'refuse',
    explanation: 'The recipient domain does not exist in DNS.',
    fix: 'Check the spelling of the address; the domain must exist and have MX records.',
  },
  'no-mail-host': {
    class: 'refuse',
    explanation: 'The domain has no mail server: no MX records and no address records.',
    fix: 'Publish MX records that point to host names with A/AAAA records.',
  },
  'sts-mx-mismatch': {
    class: 'refuse',
    explanation: "The MX host is not allowed by the domain's MTA-STS policy in enforce mode.",
    fix: 'Add the MX host to the mx: lines of the MTA-STS policy, or correct the MX records.',
  },
  'tls-version-too-low': {
    class: 'refuse',
    explanation: 'The mail server only speaks TLS 1.1 or older, which is no longer secure.',
    fix: 'Enable TLS 1.2 and TLS 1.3 on the mail server.',
  },
  'cipher-not-acceptable': {
    class: 'refuse',
    explanation: 'The mail server only offers encryption algorithms that are no longer secure.',
    fix: 'Enable ECDHE with AES-GCM or ChaCha20 (see the NCSC-NL TLS guidelines).',
  },
  'key-exchange-not-acceptable': {
    class: 'refuse',
    explanation: 'The mail server uses a key exchange that is too weak.',
    fix: 'Offer X25519, secp256r1 or secp384r1 (or ffdhe3072 and larger) key exchange.',
  },
  'pkix-insecure-mx': {
    class: 'refuse',
    explanation:
      'The mail server has a valid certificate, but its name comes from DNS that is not protected by DNSSEC or MTA-STS, and the sending account requires stronger authentication.',
    fix: 'Publish DANE TLSA records in a DNSSEC-signed zone, or an MTA-STS policy in enforce mode.',
  },
  'starttls-refused': {
    class: 'defer',
    explanation: 'The mail server offers encryption but refused to start it (reply 454).',
    fix: 'Check the TLS configuration and certificate files of the mail server.',
  },
  'dane-starttls-missing': {
    class: 'defer',
    explanation:
      'The mail server publishes DANE (TLSA) records, so it must offer encryption, but STARTTLS was not offered this time: someone on the network path may have removed it, or the server is misconfigured. Nothing was sent; delivery is tried again later.',
    fix: 'Enable STARTTLS on every MX host that has TLSA records, and check that no firewall or proxy in front of it removes STARTTLS.',
  },
  'tls-handshake-failed': {
    class: 'defer',
    explanation: 'The encrypted connection could not be set up with the mail server.',
    fix: 'Check that the mail server supports TLS 1.2 or 1.3 with current algorithms.',
  },
  'connection-failed': {
    class: 'defer',
    explanation: 'The mail server could not be reached.',
    fix: 'Check that the MX hosts accept connections on the SMTP port.',
  },
  'smtp-timeout': {
    class: 'defer',
    explanation: 'The mail server stopped answering during the conversation.',
    fix: 'Check the load and the network path of the mail server.',
  },
  'smtp-temporary-error': {
    class: 'defer',
    explanation: 'The mail server answered with a temporary error (4xx).',
    fix: 'Usually none: the server is busy or greylisting; it clears up by itself.',
  },
  'smtp-permanent-error': {
    class: 'refuse',
    explanation: 'The mail server answered with a permanent error (5xx) before a message was sent.',
    fix: 'Check that the mail server accepts mail for this domain.',
  },
  'dns-temporary-failure': {
    class: 'defer',
    explanation:
      'DNS did not give a usable answer (server failure or timeout). A validating resolver also reports DNSSEC-invalid (bogus) data this way.',
    fix: 'Check the DNS servers and the DNSSEC signatures of the domain (for example with dnsviz.net).',
  },
  'host-check-failed': {
    class: 'defer',
    explanation:
      "This service could not finish checking this mail server (an unexpected error on our side). The domain's other mail servers are still tried, and this one again on the next attempt.",
    fix: 'Nothing for the domain: the operator of this service finds the error in its log and evidence.',
  },
  'dns-invalid-answer': {
    class: 'defer',
    explanation:
      'DNS gave an answer that cannot be used, for example an MX record whose target is not a valid host name.',
    fix: 'Correct the MX records of the domain: each must name a host, such as mx1.example.nl.',
  },
  'dnssec-unavailable': {
    class: 'defer',
    explanation:
      "The sending account requires DANE, but this service's DNS resolver is not trusted to validate DNSSEC, so DANE cannot be checked. Delivery waits until it can.",
    fix: 'Nothing on the recipient side. The operator of this service runs a validating resolver on the same machine (for example unbound on 127.0.0.1), or sets SECUREMAIL_DNS_TRUST_AD=always when the network path to the resolver is protected.',
  },
  'sts-policy-unreachable': {
    class: 'defer',
    explanation:
      'The domain announces an MTA-STS policy, but it could not be downloaded right now (network failure, timeout or server error). Delivery waits, because the policy decides which mail servers may be used.',
    fix: 'Keep https://mta-sts.<domain>/.well-known/mta-sts.txt reachable, or remove the _mta-sts TXT record when the domain no longer uses MTA-STS.',
  },
  'mx-address-forbidden': {
    class: 'refuse',
    explanation:
      'The mail server name points to an address outside the public internet (for example 127.0.0.1 or a private network), which this service never connects to.',
    fix: 'Point the MX records to host names with public IP addresses.',
  },
  'requiretls-not-supported': {
    class: 'refuse',
    explanation:
      'The message asks for REQUIRETLS (RFC 8689), and the mail server does not offer it or is not authenticated by DANE or MTA-STS.',
    fix: 'Support REQUIRETLS on the mail server and publish DANE (TLSA) records or an MTA-STS enforce policy.',
  },
  'smtputf8-not-supported': {
    class: 'refuse',
    explanation:
      'The address has non-ASCII characters before the @ (an internationalised address, RFC 6531), and the mail server does not offer SMTPUTF8 over its encrypted connection, so the address cannot be sent to it.',
    fix: 'Enable SMTPUTF8 on the mail server (for example smtputf8_enable in Postfix), or give the recipient an ASCII address.',
  },
  'remote-bounce': {
    class: 'refuse',
    explanation:
      'The receiving mail server accepted the message, then reported that it could not be delivered (a bounce).',
    fix: 'Check the recipient address; the diagnostic in the details says what the receiving server reported.',
  },
};

export function reasonClass(code: ReasonCode): ReasonClass {
  return REASONS[code].class;
}

/**
 * Reasons of our own side that a recipient can carry besides the ReasonCodes. They have no
 * advice for the recipient's administrator, so no entry in REASONS (a notification gives the
 * code only) and no row in docs/security.md.
 */
export const OWN_REASONS = [
  /** The security assessment threw; the recipient is retried. */
  'internal-error',
  /** The message body could not be read or signed (purged, sealed with another key). */
  'message-unavailable',
  /** The address is on the account's suppression list; nothing was sent. */
  'suppressed',
  /** The recipient's data was erased at the sender's request before it was sent (docs/privacy.md). */
  'erasure-requested',
] as const;

/** Every reason a recipient (and its attempts) can be given. */
export type RecipientReason = ReasonCode | (typeof OWN_REASONS)[number];

/** The explanation and fix of a stored reason, when it has them. */
export function reasonInfo(reason: string | null): ReasonInfo | undefined {
  if (reason === null || !Object.hasOwn(REASONS, reason)) return undefined;
  return REASONS[reason as ReasonCode];
}
