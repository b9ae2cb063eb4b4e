// The one host-name rule for certificates (src/security/certificate-names.ts) as a table,
// and what it reads from real certificates made here: SAN before CN, the CN fallback only
// where allowed, and the facts the DANE-TA chain check relies on.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { certificateFacts } from '../../src/security/certificate-extensions.ts';
import {
  certificateNamesHost,
  dnsNameMatches,
  presentedNames,
} from '../../src/security/certificate-names.ts';
import { makeCa, makeLeaf } from '../support/certs.ts';

// [presented name in the certificate, reference host, matches?]
const CASES: Array<[string, string, boolean]> = [
  // exact names: case, trailing dot
  ['mx.victim.example', 'mx.victim.example', true],
  ['MX.Victim.Example', 'mx.victim.example', true],
  ['mx.victim.example.', 'mx.victim.example', true],
  ['mx.victim.example', 'MX.VICTIM.EXAMPLE.', true],
  ['mx.victim.example', 'mx2.victim.example', false],
  ['mx.victim.example', 'mx.victim.example.evil.test', false],
  ['victim.example', 'mx.victim.example', false],
  // a whole left-most `*` stands for exactly one label
  ['*.victim.example', 'mx.victim.example', true],
  ['*.victim.example', 'mx.victim.example.', true],
  ['*.Victim.Example', 'MX.victim.example', true],
  ['*.victim.example', 'victim.example', false],
  ['*.victim.example', '.victim.example', false],
  ['*.victim.example', 'a.mx.victim.example', false],
  ['*.victim.example', 'mx.victim.example.evil.test', false],
  ['*.victim.example', 'mx.other.example', false],
  // partial wildcards and wildcards elsewhere never match, not even literally
  ['m*.victim.example', 'mx.victim.example', false],
  ['m*.victim.example', 'm*.victim.example', false],
  ['*x.victim.example', 'mx.victim.example', false],
  ['f*o.victim.example', 'foo.victim.example', false],
  ['**.victim.example', 'mx.victim.example', false],
  ['*.*.example', 'mx.victim.example', false],
  ['mx.*.example', 'mx.victim.example', false],
  ['mx.victim.*', 'mx.victim.example', false],
  ['*mx.victim.example', 'mx.victim.example', false],
  // nothing but `*`, and wildcards over a single label or a public suffix
  ['*', 'mx', false],
  ['*', 'mx.victim.example', false],
  ['*.', 'mx', false],
  ['*.example', 'victim.example', false],
  ['*.com', 'example.com', false],
  ['*.co.uk', 'example.co.uk', false],
  ['*.kawasaki.jp', 'city.kawasaki.jp', false],
  ['*.example.co.uk', 'mx.example.co.uk', true],
  // a private-section suffix is a real domain with one owner
  ['*.github.io', 'user.github.io', true],
  // IDNA: A-labels match whole; a wildcard never matches part of one; U-labels never match
  ['xn--bcher-kva.victim.example', 'xn--bcher-kva.victim.example', true],
  ['*.victim.example', 'xn--bcher-kva.victim.example', true],
  ['*.xn--bcher-kva.example', 'mx.xn--bcher-kva.example', true],
  ['xn--*.victim.example', 'xn--bcher-kva.victim.example', false],
  ['x*.victim.example', 'xn--bcher-kva.victim.example', false],
  ['*-kva.victim.example', 'xn--bcher-kva.victim.example', false],
  ['xn--bcher-*.victim.example', 'xn--bcher-kva.victim.example', false],
  ['*.xn--p1ai', 'xn--e1afmkfd.xn--p1ai', false],
  ['bücher.victim.example', 'bücher.victim.example', false],
  ['bücher.victim.example', 'xn--bcher-kva.victim.example', false],
  ['*.victim.example', 'bücher.victim.example', false],
  // Unicode that lower-cases into ASCII (Kelvin sign) is not a K
  ['\u212Ax.victim.example', 'kx.victim.example', false],
  // malformed names
  ['', 'mx.victim.example', false],
  ['mx..victim.example', 'mx..victim.example', false],
  ['mx.victim.example', '', false],
  ['*.victim.example', '*.victim.example', false],
  ['mx.victim.example\u0000.evil.test', 'mx.victim.example', false],
  ['mx victim.example', 'mx victim.example', false],
  // IP addresses are not DNS names
  ['127.0.0.1', '127.0.0.1', false],
  ['*.0.0.1', '127.0.0.1', false],
];

describe('dnsNameMatches', () => {
  test('the table of presented names and hosts', () => {
    const wrong = CASES.filter(([presented, host, expected]) => {
      return dnsNameMatches(presented, host) !== expected;
    }).map(([presented, host, expected]) => `${presented} vs ${host}: expected ${expected}`);
    assert.deepEqual(wrong, []);
  });
});

describe('certificateNamesHost', () => {
  const x = (c: { der: Buffer }) => new X509Certificate(c.der);

  test('SAN names; the CN is ignored when there is a SAN dNSName', async () => {
    const cert = x(
      await makeLeaf({ names: ['mx.a.test', '*.b.test'], commonName: 'mx.cn-only.test' }),
    );
    assert.deepEqual(presentedNames(cert, 'san-or-cn'), ['mx.a.test', '*.b.test']);
    assert.ok(certificateNamesHost(cert, 'mx.a.test', 'san-or-cn'));
    assert.ok(certificateNamesHost(cert, 'mx.b.test', 'san-only'));
    assert.ok(!certificateNamesHost(cert, 'mx.cn-only.test', 'san-or-cn'));
  });

  test('the CN is used without a SAN, with the same wildcard rule, and only where allowed', async () => {
    const plain = x(await makeLeaf({ names: [], commonName: 'mx.cn.test' }));
    assert.ok(certificateNamesHost(plain, 'mx.cn.test', 'san-or-cn'));
    assert.ok(!certificateNamesHost(plain, 'mx.cn.test', 'san-only'));
    const wildcard = x(await makeLeaf({ names: [], commonName: '*.cn.test' }));
    assert.ok(certificateNamesHost(wildcard, 'mx.cn.test', 'san-or-cn'));
    const partial = x(await makeLeaf({ names: [], commonName: 'm*.cn.test' }));
    assert.ok(!certificateNamesHost(partial, 'mx.cn.test', 'san-or-cn'));
  });

  test('a partial wildcard that Node itself accepts is refused here', async () => {
    const cert = x(await makeLeaf({ names: ['m*.victim.example'] }));
    // The reason this module exists: Node's default matching says yes.
    assert.equal(cert.checkHost('mx.victim.example'), 'm*.victim.example');
    assert.ok(!certificateNamesHost(cert, 'mx.victim.example', 'san-or-cn'));
  });
});

describe('certificateFacts', () => {
  const x = (c: { der: Buffer }) => new X509Certificate(c.der);

  test('basicConstraints, pathLen, keyUsage and self-issued, as the certificates were made', async () => {
    const root = await makeCa('Facts Root', { pathLength: 1 });
    const facts = (cert: X509Certificate) => {
      const read = certificateFacts(cert);
      assert.ok(read.ok);
      return read.facts;
    };
    const rootFacts = facts(x(root));
    assert.deepEqual(rootFacts.basicConstraints, { ca: true, pathLength: 1 });
    assert.deepEqual(rootFacts.keyUsage, { keyCertSign: true });
    assert.equal(rootFacts.selfIssued, true);
    assert.deepEqual(rootFacts.commonNames, ['Facts Root']);
    const plain = facts(x(await makeCa('Plain', { issuer: root, ca: false, keyUsage: null })));
    assert.deepEqual(plain.basicConstraints, { ca: false });
    assert.equal(plain.keyUsage, undefined);
    assert.equal(plain.selfIssued, false);
    const bare = facts(x(await makeCa('Bare', { issuer: root, ca: null, keyUsage: 0x01 })));
    assert.equal(bare.basicConstraints, undefined);
    assert.deepEqual(bare.keyUsage, { keyCertSign: false });
    // Same name as its issuer, another key: a self-issued certificate (a key rollover).
    assert.equal(facts(x(await makeCa('Facts Root', { issuer: root }))).selfIssued, true);
    const leaf = facts(x(await makeLeaf({ names: ['mx.facts.test', '*.facts.test'] })));
    assert.deepEqual(leaf.dnsNames, ['mx.facts.test', '*.facts.test']);
    assert.deepEqual(leaf.keyUsage, { keyCertSign: false });
  });
});
