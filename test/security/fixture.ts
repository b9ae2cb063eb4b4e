// Shared set-up for the security case tests: one in-process DNS server with the real DNS
// client, a test CA (trusted only through the `extraCa` option), and HTTPS servers for
// MTA-STS policies (one trusted, one with a self-signed certificate).
import { createHash } from 'node:crypto';
import { createResolver, type DnsClient } from '../../src/dns/index.ts';
import {
  createMemoryStsPolicyCache,
  type StsPolicyCache,
} from '../../src/security/mta-sts-cache.ts';
import { openSecureSession, type SecureSessionResult } from '../../src/security/open-session.ts';
import type { SecurityDeps, SecurityOptions } from '../../src/security/options.ts';
import { chainPem, makeCa, makeLeaf, type TestCert } from '../support/certs.ts';
import { TestDnsServer } from '../support/dns-server.ts';
import { HttpsPolicyServer } from '../support/https-policy-server.ts';
import { type TestSmtpOptions, TestSmtpServer } from '../support/smtp-server.ts';

export const STS_DOMAINS = [
  'sts-match.test',
  'sts-mismatch.test',
  'sts-testing.test',
  'sts-cached.test',
  'sts-pause.test',
  'sts-redirect.test',
  'sts-untrusted.test',
  'sts-levels.test',
  'sts-404.test',
  'sts-doubt.test',
  'sts-format.test',
];

/** The networks the in-process test servers listen in. */
export const TEST_NETWORKS: readonly string[] = ['127.0.0.0/8', '::1/128'];

export interface Fixture {
  dns: TestDnsServer;
  resolver: DnsClient;
  ca: TestCert;
  policyServer: HttpsPolicyServer;
  untrustedPolicyServer: HttpsPolicyServer;
  /** An SMTP test server, closed with the fixture. */
  smtpServer(options: TestSmtpOptions): Promise<TestSmtpServer>;
  /**
   * An SMTP test server with STARTTLS and a certificate for `names`, from the test CA unless
   * `cert.issuer` says otherwise (`null`: self-signed); closed with the fixture.
   */
  tlsServer(
    names: string[],
    cert?: { issuer?: TestCert | null; expired?: boolean },
    extra?: TestSmtpOptions,
  ): Promise<{ server: TestSmtpServer; leaf: TestCert }>;
  /** Anything else a test starts (a man in the middle), closed with the fixture. */
  closeLater(server: { close(): Promise<void> }): void;
  close(): Promise<void>;
}

export async function startFixture(): Promise<Fixture> {
  const dns = await TestDnsServer.start();
  const resolver = createResolver({
    servers: [{ host: dns.host, port: dns.port }],
    trustAd: true,
    cache: false,
    timeoutMs: 300,
    attempts: 1,
  });
  const ca = await makeCa('SecureMail Test Root');
  const stsNames = STS_DOMAINS.map((d) => `mta-sts.${d}`);
  const stsLeaf = await makeLeaf({ names: stsNames, issuer: ca });
  const policyServer = await HttpsPolicyServer.start({
    key: stsLeaf.keyPem,
    cert: chainPem(stsLeaf),
  });
  const selfSigned = await makeLeaf({ names: stsNames });
  const untrustedPolicyServer = await HttpsPolicyServer.start({
    key: selfSigned.keyPem,
    cert: selfSigned.pem,
  });
  for (const name of stsNames) dns.set(name, [{ type: 'A', data: '127.0.0.1' }]);
  const started: Array<{ close(): Promise<void> }> = [];
  const smtpServer = async (options: TestSmtpOptions) => {
    const server = await TestSmtpServer.start(options);
    started.push(server);
    return server;
  };
  return {
    dns,
    resolver,
    ca,
    policyServer,
    untrustedPolicyServer,
    smtpServer,
    async tlsServer(names, cert = {}, extra = {}) {
      const issuer = cert.issuer === null ? undefined : (cert.issuer ?? ca);
      const leaf = await makeLeaf({
        names,
        ...(issuer ? { issuer } : {}),
        expired: cert.expired ?? false,
      });
      const server = await smtpServer({
        tls: { key: leaf.keyPem, cert: chainPem(leaf) },
        ...extra,
      });
      return { server, leaf };
    },
    closeLater: (server) => {
      started.push(server);
    },
    async close() {
      await Promise.all(started.map((s) => s.close()));
      await resolver.close();
      await policyServer.close();
      await untrustedPolicyServer.close();
      await dns.close();
    },
  };
}

export function deps(
  fx: Fixture,
  stsCache: StsPolicyCache = createMemoryStsPolicyCache(),
): SecurityDeps {
  return { resolver: fx.resolver, stsCache };
}

export function options(
  fx: Fixture,
  smtpPort: number,
  extra: Partial<SecurityOptions> = {},
): Partial<SecurityOptions> {
  return {
    smtpPort,
    ehloName: 'sender.securemail.test',
    extraCa: [fx.ca.pem],
    connectTimeoutMs: 2000,
    commandTimeoutMs: 2000,
    mtaStsPort: fx.policyServer.port,
    mtaStsTimeoutMs: 2000,
    random: () => 0.5,
    // The test servers listen on loopback, which production never connects to.
    allowNetworks: TEST_NETWORKS,
    ...extra,
  };
}

/** What a security check is asked: the domain, its MX servers' port, options, an MTA-STS cache. */
export type CheckArgs = [
  domain: string,
  port: number,
  extra?: Partial<SecurityOptions>,
  stsCache?: StsPolicyCache,
];

/**
 * The security verdict for mail to `domain`: openSecureSession with the fixture's options. A
 * session it opened is closed again; the verdict and evidence are what the tests look at.
 */
export async function checkSession(
  fx: Fixture,
  ...[domain, port, extra = {}, stsCache = createMemoryStsPolicyCache()]: CheckArgs
): Promise<SecureSessionResult> {
  const result = await openSecureSession(domain, options(fx, port, extra), deps(fx, stsCache));
  if (result.verdict === 'deliver') await result.session.quit();
  return result;
}

/** MX records for `domain` plus an A record per host. */
export function publishMx(
  fx: Fixture,
  domain: string,
  hosts: Array<{ name: string; address?: string; preference?: number }>,
): void {
  fx.dns.set(
    domain,
    hosts.map((h, i) => ({
      type: 'MX' as const,
      preference: h.preference ?? 10 * (i + 1),
      exchange: h.name,
    })),
  );
  for (const host of hosts)
    fx.dns.set(host.name, [{ type: 'A', data: host.address ?? '127.0.0.1' }]);
}

/** TLSA record data for a certificate: selector 1 = SPKI, matching 1 = SHA-256 etc. */
export function tlsaData(cert: TestCert, selector: 0 | 1, matchingType: 0 | 1 | 2): Buffer {
  const selected = selector === 1 ? cert.spki : cert.der;
  if (matchingType === 0) return selected;
  return createHash(matchingType === 1 ? 'sha256' : 'sha512')
    .update(selected)
    .digest();
}
