import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createResolver, type DnsClient } from '../../src/dns/index.ts';
import { nonPublicRange as forbiddenRange } from '../../src/net/address-ranges.ts';
import {
  checkWebhookUrl,
  type HostLookup,
  resolverLookup,
} from '../../src/notify/webhook-target.ts';
import { TestDnsServer } from '../support/dns-server.ts';

const noLookup: HostLookup = async () => {
  throw new Error('no lookup expected');
};

describe('forbiddenRange', () => {
  const forbidden: [string, string][] = [
    ['127.0.0.1', 'loopback'],
    ['127.255.1.2', 'loopback'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.5.4', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.254', 'carrier-grade NAT'],
    ['0.0.0.0', 'this network'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456:789a::1', 'unique-local'],
    ['fe80::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['64:ff9b::192.168.0.1', 'private'],
    ['2002:0a00:0001::1', 'private'],
  ];
  for (const [ip, range] of forbidden) {
    it(`refuses ${ip} (${range})`, () => assert.equal(forbiddenRange(ip), range));
  }
  for (const ip of [
    '93.184.216.34',
    '172.32.0.1',
    '100.128.0.1',
    '2a00:1450:4001::1',
    '::ffff:8.8.8.8',
  ]) {
    it(`allows ${ip}`, () => assert.equal(forbiddenRange(ip), undefined));
  }
});

describe('checkWebhookUrl', () => {
  let dns: TestDnsServer;
  let resolver: DnsClient;
  before(async () => {
    dns = await TestDnsServer.start();
    dns.set('internal.hooks.test', [{ type: 'A', data: '10.20.30.40' }]);
    dns.set('mixed.hooks.test', [
      { type: 'A', data: '93.184.216.34' },
      { type: 'AAAA', data: 'fd00::5' },
    ]);
    dns.set('public.hooks.test', [{ type: 'A', data: '93.184.216.34' }]);
    resolver = createResolver({ servers: [{ host: dns.host, port: dns.port }], cache: false });
  });
  after(async () => {
    await resolver.close();
    await dns.close();
  });

  const refused: [string, RegExp][] = [
    ['http://public.hooks.test/', /https/],
    ['https://127.0.0.1/hook', /loopback/],
    ['https://10.1.2.3/hook', /private/],
    ['https://169.254.169.254/latest/meta-data', /link-local/],
    ['https://[::1]:8443/', /loopback/],
    ['https://[fc00::1]/', /unique-local/],
    ['https://[::ffff:127.0.0.1]/', /loopback/],
    ['https://user:pw@public.hooks.test/', /user name/],
    ['https://internal.hooks.test/hook', /10\.20\.30\.40, a private address/],
    ['https://mixed.hooks.test/hook', /fd00::5/],
    ['https://nxdomain.hooks.test/', /no address/],
    ['not a url', /valid URL/],
  ];
  for (const [url, problem] of refused) {
    it(`refuses ${url}`, async () => {
      const check = await checkWebhookUrl(url, {
        allowPrivate: false,
        lookup: resolverLookup(resolver),
      });
      assert.equal(check.ok, false);
      assert.ok(!check.ok && problem.test(check.problem), !check.ok ? check.problem : '');
    });
  }

  it('accepts a public host and pins the checked address', async () => {
    const check = await checkWebhookUrl('https://public.hooks.test:8443/x?y=1', {
      allowPrivate: false,
      lookup: resolverLookup(resolver),
    });
    assert.ok(check.ok);
    assert.deepEqual(
      { host: check.target.host, port: check.target.port, address: check.target.address },
      { host: 'public.hooks.test', port: 8443, address: '93.184.216.34' },
    );
  });

  it('allows private targets only when the operator says so', async () => {
    const check = await checkWebhookUrl('https://127.0.0.1:9/', {
      allowPrivate: true,
      lookup: noLookup,
    });
    assert.ok(check.ok);
    const http = await checkWebhookUrl('http://127.0.0.1:9/', {
      allowPrivate: true,
      lookup: noLookup,
    });
    assert.equal(http.ok, false);
  });
});
