// `securemail check` run as a real process, against an in-process DNS server and SMTP servers
// on ephemeral ports, with the test CA trusted through SECUREMAIL_CA_FILE only.

import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCheckCommand } from '../../src/cli/check-command.ts';
import { loadConfig } from '../../src/config.ts';
import { chainPem, makeCa, makeLeaf } from '../support/certs.ts';
import { TestDnsServer } from '../support/dns-server.ts';
import { TestSmtpServer } from '../support/smtp-server.ts';
import { cli } from './run.ts';

const ESC = String.fromCharCode(0x1b);

/** A UDP port on 127.0.0.1 where nothing listens. */
async function closedUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

describe('securemail check', () => {
  let dns: TestDnsServer;
  let good: TestSmtpServer;
  let plain: TestSmtpServer;
  let dir: string;
  let dataDir: string;
  let env: Record<string, string>;

  before(async () => {
    dns = await TestDnsServer.start();
    const ca = await makeCa('SecureMail CLI Test Root');
    const leaf = await makeLeaf({ names: ['mx.ok.test'], issuer: ca });
    good = await TestSmtpServer.start({ tls: { key: leaf.keyPem, cert: chainPem(leaf) } });
    // Same port on another loopback address: one SECUREMAIL_SMTP_PORT reaches both.
    plain = await TestSmtpServer.start({ host: '127.0.0.2', port: good.port });

    dns.set('ok.test', [{ type: 'MX', preference: 10, exchange: 'mx.ok.test' }]);
    dns.set('mx.ok.test', [{ type: 'A', data: '127.0.0.1' }]);
    dns.set('plain.test', [{ type: 'MX', preference: 10, exchange: 'mx.plain.test' }]);
    dns.set('mx.plain.test', [{ type: 'A', data: '127.0.0.2' }]);
    dns.fail('broken.test', 'servfail', 'MX');

    dir = mkdtempSync(path.join(tmpdir(), 'securemail-check-'));
    dataDir = path.join(dir, 'data');
    mkdirSync(dataDir);
    const caFile = path.join(dir, 'ca.pem');
    writeFileSync(caFile, ca.pem);
    env = {
      SECUREMAIL_DATA_DIR: dataDir,
      SECUREMAIL_LOG_LEVEL: 'warn',
      SECUREMAIL_HOSTNAME: 'sender.securemail.test',
      SECUREMAIL_DNS_SERVERS: dns.server,
      SECUREMAIL_DNS_TIMEOUT_MS: '500',
      SECUREMAIL_SMTP_PORT: String(good.port),
      SECUREMAIL_MX_ALLOW_NETWORKS: '127.0.0.0/8,::1/128',
      SECUREMAIL_SMTP_CONNECT_TIMEOUT_MS: '2000',
      SECUREMAIL_SMTP_COMMAND_TIMEOUT_MS: '2000',
      SECUREMAIL_CA_FILE: caFile,
    };
  });
  after(async () => {
    await good.close();
    await plain.close();
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a good server: exit 0, a plain report without colour when stdout is not a TTY', async () => {
    const result = await cli(['check', 'someone@ok.test'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /ok\.test {2}DELIVER/);
    assert.match(result.stdout, /authenticated by pkix; TLSv1\.[23]/);
    assert.match(result.stdout, /mx\.ok\.test \[127\.0\.0\.1\]/);
    // Which resolver said so, and whether its DNSSEC validation is believed.
    assert.match(result.stdout, new RegExp(`resolver: ${dns.server} \\(AD trusted\\)`));
    assert.ok(!result.stdout.includes(ESC), 'no ANSI colour on a pipe');
    assert.equal(good.sawMailFrom, false);
    assert.equal(good.commands.at(-1), 'tls: QUIT');
  });

  test('colour on a terminal, unless NO_COLOR is set', async () => {
    const config = loadConfig(env);
    const onTty = async (extra: Record<string, string>) => {
      let text = '';
      const code = await runCheckCommand(['ok.test'], config, extra, {
        isTty: true,
        write: (chunk) => {
          text += chunk;
        },
      });
      assert.equal(code, 0);
      return text;
    };
    assert.ok((await onTty({})).includes(`${ESC}[32mDELIVER`));
    assert.ok((await onTty({ NO_COLOR: '' })).includes(ESC), 'an empty NO_COLOR does not count');
    assert.ok(!(await onTty({ NO_COLOR: '1' })).includes(ESC));
  });

  test('--json: one report per domain with verdict, method, TLS, certificate and hosts', async () => {
    const result = await cli(['check', '--json', 'a@ok.test', 'b@OK.test', 'ok.test.'], env);
    assert.equal(result.code, 0, result.stderr);
    const reports = JSON.parse(result.stdout);
    assert.equal(reports.length, 1);
    const [report] = reports;
    assert.equal(report.domain, 'ok.test');
    assert.deepEqual(report.recipients, ['a@ok.test', 'b@OK.test', 'ok.test.']);
    assert.equal(report.verdict, 'deliver');
    assert.equal(report.method, 'pkix');
    assert.match(report.tlsVersion, /^TLSv1\.[23]$/);
    assert.equal(typeof report.cipher, 'string');
    assert.deepEqual(report.certificate.dnsNames, ['mx.ok.test']);
    assert.equal(report.hosts.length, 1);
    assert.equal(report.hosts[0].host, 'mx.ok.test');
    assert.equal(report.hosts[0].result, 'pass');
    assert.equal(report.evidence.domain.recipientDomain, 'ok.test');
  });

  test('any refused: exit 1, with the reason; nothing was sent in clear', async () => {
    const result = await cli(['check', '--json', 'ok.test', 'x@plain.test'], env);
    assert.equal(result.code, 1, result.stderr);
    const reports = JSON.parse(result.stdout);
    assert.deepEqual(
      reports.map((r: { domain: string; verdict: string; reason?: string }) => [
        r.domain,
        r.verdict,
        r.reason,
      ]),
      [
        ['ok.test', 'deliver', undefined],
        ['plain.test', 'refuse', 'starttls-not-supported'],
      ],
    );
    assert.equal(plain.sawMailFrom, false);

    const text = await cli(['check', 'plain.test'], env);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /plain\.test {2}REFUSE \(starttls-not-supported\)/);
    assert.match(text.stdout, /fix: Enable STARTTLS/);
  });

  test('--policy dane-only refuses a PKIX-only server', async () => {
    const result = await cli(['check', '--json', '--policy', 'dane-only', 'ok.test'], env);
    assert.equal(result.code, 1, result.stderr);
    const [report] = JSON.parse(result.stdout);
    assert.equal(report.verdict, 'refuse');
    assert.equal(report.reason, 'dane-required');
    assert.equal(report.evidence.domain.policyLevel, 'dane-only');
  });

  test('a deferral (DNS SERVFAIL) exits 2, also next to a deliverable domain', async () => {
    const result = await cli(['check', '--json', 'ok.test', 'broken.test'], env);
    assert.equal(result.code, 2, result.stderr);
    const reports = JSON.parse(result.stdout);
    assert.equal(reports[1].verdict, 'defer');
    assert.equal(reports[1].reason, 'dns-temporary-failure');
  });

  test('a DNS failure says which query, which resolver and what happened, in text and JSON', async () => {
    const text = await cli(['check', 'broken.test'], env);
    assert.equal(text.code, 2, text.stderr);
    assert.ok(
      text.stdout.includes(`  MX lookup for broken.test: SERVFAIL from ${dns.server}\n`),
      text.stdout,
    );

    // A resolver where nothing listens is not a "timeout", and not missing records.
    const port = await closedUdpPort();
    const nobody = { ...env, SECUREMAIL_DNS_SERVERS: `127.0.0.1:${port}` };
    const refused = await cli(['check', 'ok.test'], nobody);
    assert.equal(refused.code, 2);
    const words = `MX lookup for ok.test: 127.0.0.1:${port} refused the connection (nothing listens there)`;
    assert.ok(refused.stdout.includes(words), refused.stdout);
    const [report] = JSON.parse((await cli(['check', '--json', 'ok.test'], nobody)).stdout);
    assert.equal(report.reason, 'dns-temporary-failure');
    assert.equal(report.message, words);
    assert.equal(report.evidence.domain.mx.dnssec, words.slice('MX lookup for ok.test: '.length));
  });

  test('several domains: each report as it is known, and a slow resolver named on stderr', async () => {
    dns.fail('slow.test', 'timeout', 'MX');
    const slow = { ...env, SECUREMAIL_DNS_TIMEOUT_MS: '1500' };
    const result = await cli(['check', 'slow.test', 'ok.test'], slow);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `^waiting for ${dns.server.replace(/\./g, '\\.')} \\(MX slow\\.test\\) \\.\\.\\.$`,
        'm',
      ),
    );
    // ok.test is known long before slow.test gives up, so it comes first, numbered as named.
    assert.ok(result.stdout.startsWith('[2/2] ok.test  DELIVER'), result.stdout);
    assert.match(result.stdout, /\n\[1\/2\] slow\.test {2}DEFER \(dns-temporary-failure\)\n/);
    assert.match(
      result.stdout,
      /MX lookup for slow\.test: no answer from 127\.0\.0\.1:\d+ within \d+ ms \(2 tries\)/,
    );

    // In process: the first report is written while the slow one is still waiting.
    const written: Array<{ at: number; text: string }> = [];
    const progress: Array<{ at: number; line: string }> = [];
    const started = Date.now();
    const code = await runCheckCommand(
      ['slow.test', 'ok.test'],
      loadConfig(slow),
      {},
      {
        isTty: false,
        write: (text) => written.push({ at: Date.now() - started, text }),
        progress: (line) => progress.push({ at: Date.now() - started, line }),
      },
    );
    assert.equal(code, 2);
    assert.equal(written.length, 2);
    assert.match(written[0]!.text, /^\[2\/2\] ok\.test/);
    assert.ok(written[0]!.at < 1500, `ok.test after ${written[0]!.at} ms`);
    assert.ok(written[1]!.at >= 2900, `slow.test after ${written[1]!.at} ms`);
    assert.equal(progress.length, 1);
    assert.equal(progress[0]!.line, `waiting for ${dns.server} (MX slow.test) ...`);
    assert.ok(progress[0]!.at >= 2000 && progress[0]!.at < written[1]!.at);

    // One domain: no numbering.
    const single = await cli(['check', 'ok.test'], env);
    assert.ok(single.stdout.startsWith('ok.test  DELIVER'), single.stdout);
  });

  test('without the CA file the test CA is not trusted', async () => {
    const { SECUREMAIL_CA_FILE: _, ...withoutCa } = env;
    const result = await cli(['check', '--json', 'ok.test'], withoutCa);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(JSON.parse(result.stdout)[0].reason, 'certificate-not-trusted');
  });

  test('bad usage exits 2 with a message', async () => {
    const [none, level, input, option] = await Promise.all([
      cli(['check'], env),
      cli(['check', '--policy', 'anything', 'ok.test'], env),
      cli(['check', 'not a domain'], env),
      cli(['check', '--colour', 'ok.test'], env),
    ]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /usage: securemail check/);
    assert.equal(level.code, 2);
    assert.match(level.stderr, /--policy must be one of dane-only, authenticated, verified/);
    assert.equal(input.code, 2);
    assert.match(input.stderr, /neither an e-mail address nor a domain name/);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /Unknown option '--colour'/);
  });

  test('an unreadable CA file is a configuration error', async () => {
    const result = await cli(['check', 'ok.test'], {
      ...env,
      SECUREMAIL_CA_FILE: path.join(dir, 'missing.pem'),
    });
    assert.equal(result.code, 78);
    assert.match(result.stderr, /SECUREMAIL_CA_FILE: cannot read/);
  });

  test('needs no database: the data directory stays empty', () => {
    assert.deepEqual(readdirSync(dataDir), []);
  });
});
