// The one classifier of "is this address the internet?" used by outbound SMTP, the MTA-STS
// fetch and webhooks, and the operator's allowed networks.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AddressPolicy,
  isLoopback,
  nonPublicRange,
  parseNetwork,
  parseNetworkList,
} from '../../src/net/address-ranges.ts';

describe('nonPublicRange', () => {
  const inside: Array<[string, string]> = [
    ['127.0.0.1', 'loopback'],
    ['10.20.30.40', 'private'],
    ['192.168.0.1', 'private'],
    ['172.31.0.1', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['169.254.169.254', 'link-local'],
    ['0.0.0.0', 'this network'],
    ['192.0.0.8', 'IETF protocol assignments'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['224.0.0.251', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fc00::1', 'unique-local'],
    ['fd00:1:2::3', 'unique-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fec0::1', 'site-local'],
    ['ff02::fb', 'multicast'],
    ['2001:db8::25', 'documentation'],
    ['3fff::1', 'documentation'],
    ['2001::1', 'IETF protocol assignments'],
    ['100::1', 'discard'],
    ['4000::1', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    // IPv4-translated (SIIT, ::ffff:0:0:0/96): the webhook check used to miss it.
    ['::ffff:0:7f00:1', 'IPv4-translated'],
    ['::ffff:0:8.8.8.8', 'IPv4-translated'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    // Local-use NAT64 (RFC 8215): the webhook check used to miss it.
    ['64:ff9b:1::a00:1', 'local-use NAT64'],
    ['2002:c0a8:0101::1', 'private'],
    ['::10.0.0.1', 'private'],
    ['not-an-ip', 'not an IP address'],
    ['mx.example.nl', 'not an IP address'],
  ];
  for (const [ip, range] of inside) {
    test(`${ip} is ${range}`, () => assert.equal(nonPublicRange(ip), range));
  }
  for (const ip of [
    '93.184.216.34',
    '8.8.8.8',
    '2a00:1450:4001::1',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
  ]) {
    test(`${ip} is public`, () => assert.equal(nonPublicRange(ip), undefined));
  }
});

describe('AddressPolicy', () => {
  test('allows only public addresses by default', () => {
    const policy = new AddressPolicy();
    assert.equal(policy.refusal('8.8.8.8'), undefined);
    assert.equal(policy.refusal('127.0.0.1'), 'loopback');
  });

  test('networks the operator allowed are reached, also in their mapped forms', () => {
    const policy = new AddressPolicy(parseNetworkList('10.20.0.0/16, fd00:1::/64,127.0.0.1'));
    assert.equal(policy.refusal('10.20.1.2'), undefined);
    assert.equal(policy.refusal('::ffff:10.20.1.2'), undefined);
    assert.equal(policy.refusal('10.21.0.1'), 'private');
    assert.equal(policy.refusal('fd00:1::25'), undefined);
    assert.equal(policy.refusal('fd00:2::25'), 'unique-local');
    assert.equal(policy.refusal('127.0.0.1'), undefined);
    assert.equal(policy.refusal('127.0.0.2'), 'loopback');
  });

  test('bad networks are refused with a message naming the entry', () => {
    assert.throws(() => parseNetwork('10.0.0.0/33'), /"10.0.0.0\/33".*0 to 32/);
    assert.throws(() => parseNetwork('fd00::/129'), /0 to 128/);
    assert.throws(() => parseNetwork('intranet'), /"intranet" is not a network/);
    assert.throws(() => parseNetwork('10.0.0.0/8/1'), /is not a network/);
    assert.deepEqual(parseNetworkList(''), []);
  });

  test('loopback means 127.0.0.0/8 and ::1, also mapped', () => {
    for (const ip of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.53'])
      assert.ok(isLoopback(ip), ip);
    for (const ip of ['10.0.0.1', '192.0.2.53', '::2']) assert.ok(!isLoopback(ip), ip);
  });
});
