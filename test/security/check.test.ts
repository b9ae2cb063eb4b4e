// The pre-flight check and its report, end to end against the in-process servers.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { checkRecipients, domainOf } from '../../src/security/check.ts';
import { exitCode, formatJson, formatText } from '../../src/security/report.ts';
import { chainPem, makeLeaf } from '../support/certs.ts';
import { TestSmtpServer } from '../support/smtp-server.ts';
import { deps, type Fixture, options, publishMx, startFixture } from './fixture.ts';

let fx: Fixture;
let server: TestSmtpServer;

before(async () => {
  fx = await startFixture();
  const leaf = await makeLeaf({ names: ['mx.ok.test'], issuer: fx.ca });
  server = await TestSmtpServer.start({ tls: { key: leaf.keyPem, cert: chainPem(leaf) } });
  publishMx(fx, 'ok.test', [{ name: 'mx.ok.test' }]);
  fx.dns.set('nomail.test', [{ type: 'MX', preference: 0, exchange: '.' }]);
  fx.dns.fail('broken.test', 'servfail', 'MX');
});
after(async () => {
  await server.close();
  await fx.close();
});

test('domainOf takes the domain of an address or a bare domain', () => {
  assert.equal(domainOf('Someone@Example.COM'), 'example.com');
  assert.equal(domainOf('example.com.'), 'example.com');
  assert.equal(domainOf('"a@b"@c.test'), 'c.test');
});

test('checks each domain once, connects, and QUITs without MAIL FROM', async () => {
  const reports = await checkRecipients(
    ['a@ok.test', 'b@OK.test', 'nomail.test', 'x@broken.test'],
    options(fx, server.port),
    deps(fx),
  );
  assert.deepEqual(
    reports.map((r) => [r.domain, r.verdict, r.reason]),
    [
      ['ok.test', 'deliver', undefined],
      ['nomail.test', 'refuse', 'null-mx'],
      ['broken.test', 'defer', 'dns-temporary-failure'],
    ],
  );
  const ok = reports[0]!;
  assert.deepEqual(ok.recipients, ['a@ok.test', 'b@OK.test']);
  assert.equal(ok.method, 'pkix');
  assert.deepEqual(ok.certificate?.dnsNames, ['mx.ok.test']);
  assert.equal(ok.hosts[0]?.result, 'pass');
  assert.equal(server.sawMailFrom, false);
  assert.equal(server.commands.at(-1), 'tls: QUIT');

  assert.equal(exitCode(reports), 1);
  assert.equal(exitCode(reports.filter((r) => r.verdict !== 'refuse')), 2);
  assert.equal(exitCode([ok]), 0);

  const plain = formatText(reports, { colour: false });
  assert.match(plain, /ok\.test {2}DELIVER/);
  assert.match(plain, /nomail\.test {2}REFUSE \(null-mx\)/);
  const esc = String.fromCharCode(0x1b);
  assert.ok(!plain.includes(esc));
  assert.ok(formatText(reports, { colour: true }).includes(`${esc}[32mDELIVER`));
  assert.equal(JSON.parse(formatJson(reports)).length, 3);
});
