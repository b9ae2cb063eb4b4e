// Unit tests of the pure parts: TLS ratings, TLSA matching, MTA-STS parsing and patterns,
// dot-stuffing, SMTP reply parsing, reasons.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { isUsable, tlsaMatches, verifyDane } from '../../src/security/dane.ts';
import { DotStuffer, dotStuff } from '../../src/security/dot-stuffing.ts';
import { mxMatches, parseStsPolicy, parseStsTxt } from '../../src/security/mta-sts-policy.ts';
import {
  buildReply,
  parseCapabilities,
  parseReplyLine,
  queueIdFrom,
} from '../../src/security/smtp-reply.ts';
import {
  parameterFailure,
  rateCipher,
  rateKeyExchange,
  rateParameters,
  rateVersion,
} from '../../src/security/tls-policy.ts';
import { REASONS } from '../../src/vocabulary/reasons.ts';
import { makeCa, makeLeaf, type TestCert } from '../support/certs.ts';
import { tlsaData } from './fixture.ts';

describe('TLS ratings (NCSC-NL 2025)', () => {
  test('versions', () => {
    assert.equal(rateVersion('TLSv1.3'), 'good');
    assert.equal(rateVersion('TLSv1.2'), 'sufficient');
    for (const v of ['TLSv1.1', 'TLSv1', 'SSLv3']) assert.equal(rateVersion(v), 'insufficient');
  });

  test('cipher suites by IANA name', () => {
    const cases: Array<[string, string]> = [
      ['TLS_AES_256_GCM_SHA384', 'good'],
      ['TLS_CHACHA20_POLY1305_SHA256', 'good'],
      ['TLS_AES_128_GCM_SHA256', 'sufficient'],
      ['TLS_AES_128_CCM_SHA256', 'sufficient'],
      ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'sufficient'],
      ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'sufficient'],
      ['TLS_ECDHE_ECDSA_WITH_AES_128_CCM', 'sufficient'],
      ['TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256', 'phase-out'],
      ['TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384', 'phase-out'],
      ['TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384', 'phase-out'],
      ['TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256', 'phase-out'],
      ['TLS_DHE_RSA_WITH_AES_256_GCM_SHA384', 'phase-out'],
      ['TLS_DHE_RSA_WITH_AES_128_CBC_SHA', 'phase-out'],
      ['TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', 'insufficient'],
      ['TLS_RSA_WITH_AES_128_CBC_SHA', 'insufficient'],
      ['TLS_RSA_WITH_AES_256_CBC_SHA256', 'insufficient'],
      ['TLS_RSA_WITH_AES_128_GCM_SHA256', 'insufficient'],
      ['TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA', 'insufficient'],
      ['TLS_RSA_WITH_RC4_128_SHA', 'insufficient'],
      ['TLS_ECDHE_ECDSA_WITH_NULL_SHA', 'insufficient'],
    ];
    for (const [name, rating] of cases) assert.equal(rateCipher(name), rating, name);
  });

  test('key exchange groups', () => {
    assert.equal(rateKeyExchange({ type: 'TLSGroup', name: 'X25519MLKEM768' }), 'good');
    assert.equal(rateKeyExchange({ type: 'ECDH', name: 'X25519', size: 253 }), 'good');
    assert.equal(rateKeyExchange({ type: 'ECDH', name: 'prime256v1', size: 256 }), 'good');
    assert.equal(rateKeyExchange({ type: 'DH', size: 4096 }), 'sufficient');
    assert.equal(rateKeyExchange({ type: 'DH', size: 2048 }), 'phase-out');
    assert.equal(rateKeyExchange({ type: 'DH', size: 1024 }), 'insufficient');
    assert.equal(rateKeyExchange({ type: 'ECDH', name: 'secp192r1', size: 192 }), 'insufficient');
    assert.equal(rateKeyExchange({}), 'insufficient');
  });

  test('the first failing parameter names the reason', () => {
    const ok = rateParameters(
      'TLSv1.2',
      { name: 'x', standardName: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256' },
      { name: 'X25519' },
    );
    assert.equal(parameterFailure(ok), undefined);
    const old = rateParameters(
      'TLSv1.1',
      { name: 'x', standardName: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA' },
      { name: 'X25519' },
    );
    assert.equal(parameterFailure(old), 'tls-version-too-low');
    const rsa = rateParameters(
      'TLSv1.2',
      { name: 'AES128-SHA', standardName: 'TLS_RSA_WITH_AES_128_CBC_SHA' },
      {},
    );
    assert.equal(parameterFailure(rsa), 'cipher-not-acceptable');
    const dh = rateParameters(
      'TLSv1.2',
      { name: 'x', standardName: 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256' },
      { type: 'DH', size: 1024 },
    );
    assert.equal(parameterFailure(dh), 'key-exchange-not-acceptable');
  });
});

describe('TLSA matching', async () => {
  const ca = await makeCa('Unit Root');
  const intermediate = await makeCa('Unit Intermediate', { issuer: ca });
  const leaf = await makeLeaf({ names: ['mx.unit.test'], issuer: intermediate });
  const expiredLeaf = await makeLeaf({
    names: ['mx.unit.test'],
    issuer: intermediate,
    expired: true,
  });
  const x = (c: { der: Buffer }) => new X509Certificate(c.der);
  const chain = [x(leaf), x(intermediate), x(ca)];
  const now = new Date();
  const record = (usage: number, selector: 0 | 1, matchingType: 0 | 1 | 2, cert = leaf) => ({
    usage,
    selector,
    matchingType,
    data: tlsaData(cert, selector, matchingType),
  });

  test('selectors 0/1 with matching types 0/1/2', () => {
    for (const selector of [0, 1] as const) {
      for (const matchingType of [0, 1, 2] as const) {
        assert.ok(
          tlsaMatches(record(3, selector, matchingType), chain[0]!),
          `${selector} ${matchingType}`,
        );
        assert.ok(
          !tlsaMatches(record(3, selector, matchingType, ca), chain[0]!),
          `${selector} ${matchingType}`,
        );
      }
    }
  });

  test('usability: usages 0/1 and unknown parameters are unusable', () => {
    assert.ok(isUsable(record(3, 1, 1)));
    assert.ok(isUsable(record(2, 0, 2)));
    assert.ok(!isUsable(record(1, 1, 1)));
    assert.ok(!isUsable(record(0, 1, 1)));
    assert.ok(!isUsable({ usage: 3, selector: 2, matchingType: 1, data: Buffer.alloc(32) }));
    assert.ok(!isUsable({ usage: 3, selector: 1, matchingType: 3, data: Buffer.alloc(32) }));
    // Data that cannot be what the matching type says: malformed, so unusable.
    assert.ok(!isUsable({ usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(2) }));
    assert.ok(!isUsable({ usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(33) }));
    assert.ok(!isUsable({ usage: 2, selector: 0, matchingType: 2, data: Buffer.alloc(32) }));
    assert.ok(!isUsable({ usage: 3, selector: 1, matchingType: 0, data: Buffer.alloc(0) }));
    assert.ok(isUsable({ usage: 3, selector: 1, matchingType: 2, data: Buffer.alloc(64) }));
  });

  test('DANE-EE ignores names and expiry', () => {
    const result = verifyDane(
      [record(3, 1, 1, expiredLeaf)],
      [x(expiredLeaf)],
      ['other.test'],
      now,
    );
    assert.equal(result.ok, true);
  });

  test('DANE-TA through an intermediate, to the root or to the intermediate', () => {
    assert.equal(verifyDane([record(2, 1, 1, ca)], chain, ['mx.unit.test'], now).ok, true);
    assert.equal(
      verifyDane([record(2, 0, 1, intermediate)], chain, ['unit.test', 'mx.unit.test'], now).ok,
      true,
    );
  });

  test('DANE-TA refuses wrong names, expired leaves, and chains not signed by the anchor', () => {
    const wrongName = verifyDane([record(2, 1, 1, ca)], chain, ['other.test'], now);
    assert.equal(!wrongName.ok && wrongName.reason, 'certificate-host-mismatch');
    const expired = verifyDane(
      [record(2, 1, 1, ca)],
      [x(expiredLeaf), x(intermediate), x(ca)],
      ['mx.unit.test'],
      now,
    );
    assert.equal(!expired.ok && expired.reason, 'certificate-expired');
    // A chain that presents the anchor, but whose leaf was not signed by it.
    const forged = verifyDane([record(2, 1, 1, ca)], [x(leaf), x(ca)], ['mx.unit.test'], now);
    assert.equal(!forged.ok && forged.reason, 'tlsa-invalid');
    // A DANE-TA record never matches the leaf itself.
    const leafAsTa = verifyDane([record(2, 1, 1, leaf)], chain, ['mx.unit.test'], now);
    assert.equal(!leafAsTa.ok && leafAsTa.reason, 'tlsa-invalid');
  });

  test('a certificate whose public key cannot be read matches nothing and throws nothing', () => {
    // The intermediate with its key algorithm changed to an unknown OID (1.2.840.10045.2.9):
    // still a certificate, but Node cannot decode its key. A man in the middle can put such
    // a certificate into the chain; reading its key threw out of the whole assessment.
    const der = Buffer.from(intermediate.der);
    const ecPublicKey = Buffer.from('06072a8648ce3d0201', 'hex');
    der[der.indexOf(ecPublicKey) + ecPublicKey.length - 1] = 0x09;
    const unreadable = new X509Certificate(der);
    assert.throws(() => unreadable.publicKey);
    const withIt = [x(leaf), unreadable, x(ca)];
    for (const records of [[record(2, 1, 1, ca)], [record(2, 1, 1, intermediate)]]) {
      const result = verifyDane(records, withIt, ['mx.unit.test'], now);
      assert.equal(!result.ok && result.reason, 'tlsa-invalid');
    }
    assert.equal(tlsaMatches(record(3, 1, 1), unreadable), false);
  });
});

describe('DANE-TA: the certificates above the leaf must be CAs', async () => {
  const x = (c: { der: Buffer }) => new X509Certificate(c.der);
  const now = new Date();
  const taRecord = (anchor: { spki: Buffer; der: Buffer }) => ({
    usage: 2,
    selector: 1,
    matchingType: 1,
    data: tlsaData(anchor as Parameters<typeof tlsaData>[0], 1, 1),
  });
  const root = await makeCa('Units TA Root');

  /** verifyDane with a DANE-TA record for `anchor` and a chain made of `certs` (leaf first). */
  function judge(anchor: TestCert, ...certs: TestCert[]) {
    return verifyDane([taRecord(anchor)], certs.map(x), ['mx.units-ta.test'], now);
  }

  test('an ordinary server certificate (CA:FALSE, no keyUsage) under the anchor signs nothing', async () => {
    const server = await makeCa('www.units-attacker.test', {
      issuer: root,
      ca: false,
      keyUsage: null,
    });
    const forged = await makeLeaf({ names: ['mx.units-ta.test'], issuer: server });
    assert.deepEqual(judge(root, forged, server, root), {
      ok: false,
      reason: 'tlsa-invalid',
      detail: 'certificate 1 (CN=www.units-attacker.test) is not a CA (basicConstraints CA:FALSE)',
    });
    // Nor when the TLSA record names it directly: a trust anchor is a CA.
    const direct = judge(server, forged, server);
    assert.equal(!direct.ok && direct.reason, 'tlsa-invalid');
    assert.match(direct.ok ? '' : direct.detail, /certificate 1 .* is not a CA/);
  });

  test('no basicConstraints, a keyUsage without keyCertSign, and a pathLen exceeded', async () => {
    const bare = await makeCa('Units Bare', { issuer: root, ca: null, keyUsage: null });
    const bareResult = judge(
      root,
      await makeLeaf({ names: ['mx.units-ta.test'], issuer: bare }),
      bare,
      root,
    );
    assert.match(bareResult.ok ? '' : bareResult.detail, /is not a CA \(no basicConstraints\)/);

    const noCertSign = await makeCa('Units No CertSign', { issuer: root, keyUsage: 0x01 });
    const leaf = await makeLeaf({ names: ['mx.units-ta.test'], issuer: noCertSign });
    assert.deepEqual(judge(root, leaf, noCertSign, root), {
      ok: false,
      reason: 'tlsa-invalid',
      detail:
        'certificate 1 (CN=Units No CertSign) may not sign certificates (keyUsage without keyCertSign)',
    });

    const zero = await makeCa('Units PathLen 0', { pathLength: 0 });
    const one = await makeCa('Units PathLen 1', { issuer: zero, pathLength: 1 });
    const two = await makeCa('Units Below', { issuer: one });
    const deep = await makeLeaf({ names: ['mx.units-ta.test'], issuer: two });
    // One intermediate (one) below a pathLen 0 anchor: too many.
    const tooDeep = judge(
      zero,
      await makeLeaf({ names: ['mx.units-ta.test'], issuer: one }),
      one,
      zero,
    );
    assert.deepEqual(tooDeep, {
      ok: false,
      reason: 'tlsa-invalid',
      detail:
        'certificate 2 (CN=Units PathLen 0) allows 0 intermediate CAs below it, the chain has 1',
    });
    // With `one` as the anchor, its pathLen 1 allows `two` below it.
    assert.equal(judge(one, deep, two, one).ok, true);
  });

  test('self-issued certificates (a key rollover) do not count against pathLen', async () => {
    const anchor = await makeCa('Units Rollover', { pathLength: 0 });
    const rolled = await makeCa('Units Rollover', { issuer: anchor });
    const leaf = await makeLeaf({ names: ['mx.units-ta.test'], issuer: rolled });
    assert.equal(judge(anchor, leaf, rolled, anchor).ok, true);
  });

  test('a CA without keyUsage may sign (RFC 5280 puts no limit then)', async () => {
    const anchor = await makeCa('Units No KeyUsage Root', { keyUsage: null });
    const leaf = await makeLeaf({ names: ['mx.units-ta.test'], issuer: anchor });
    assert.equal(judge(anchor, leaf, anchor).ok, true);
  });

  test('a partial wildcard leaf under a good anchor names nothing', async () => {
    const leaf = await makeLeaf({ names: ['m*.units-ta.test'], issuer: root });
    const result = verifyDane([taRecord(root)], [x(leaf), x(root)], ['mx.units-ta.test'], now);
    assert.equal(!result.ok && result.reason, 'certificate-host-mismatch');
  });
});

describe('MTA-STS parsing', () => {
  test('TXT: exactly one v=STSv1 record with an id', () => {
    assert.deepEqual(parseStsTxt(['v=STSv1; id=20160831085700Z;']), {
      found: true,
      id: '20160831085700Z',
    });
    assert.deepEqual(parseStsTxt(['v=spf1 -all', 'v=STSv1; id=abc']), { found: true, id: 'abc' });
    assert.equal(parseStsTxt([]).found, false);
    assert.equal(parseStsTxt(['v=STSv1; id=a', 'v=STSv1; id=b']).found, false);
    assert.equal(parseStsTxt(['v=STSv1; id=not-alnum!']).found, false);
    assert.equal(parseStsTxt(['v=STSv10; id=a']).found, false);
    // Spaces or tabs before the `;` are allowed by the grammar (RFC 8461 3.1).
    assert.deepEqual(parseStsTxt(['v=STSv1 ; id=abc']), { found: true, id: 'abc' });
    assert.deepEqual(parseStsTxt(['v=STSv1\t;id=abc']), { found: true, id: 'abc' });
    assert.equal(parseStsTxt(['v=STSv1x; id=a']).found, false);
  });

  test('policy file', () => {
    const text =
      'version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.net\r\nmax_age: 604800\r\nextension: x\r\n';
    assert.deepEqual(parseStsPolicy(text, 'id1'), {
      ok: true,
      policy: {
        id: 'id1',
        mode: 'enforce',
        mx: ['mail.example.com', '*.example.net'],
        maxAge: 604800,
      },
    });
    const capped = parseStsPolicy(
      'version: STSv1\nmode: testing\nmx: a.test\nmax_age: 99999999\n',
      'x',
    );
    assert.equal(capped.ok && capped.policy.maxAge, 31_557_600);
    assert.equal(parseStsPolicy('version: STSv1\nmode: none\nmax_age: 1\n', 'x').ok, true);
    assert.equal(
      parseStsPolicy('version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n', 'x').ok,
      false,
    );
    assert.equal(parseStsPolicy('version: STSv1\nmode: block\nmx: a\nmax_age: 1\n', 'x').ok, false);
    assert.equal(parseStsPolicy('version: STSv1\nmode: enforce\nmax_age: 1\n', 'x').ok, false);
    assert.equal(parseStsPolicy('version: STSv1\nmode: enforce\nmx: a\n', 'x').ok, false);
    assert.equal(parseStsPolicy('<html>', 'x').ok, false);
  });

  test('mx patterns: a wildcard matches exactly one extra label', () => {
    assert.ok(mxMatches('mail.example.com', 'MAIL.example.com.'));
    assert.ok(mxMatches('*.example.com', 'mx1.example.com'));
    assert.ok(!mxMatches('*.example.com', 'example.com'));
    assert.ok(!mxMatches('*.example.com', 'a.b.example.com'));
    assert.ok(!mxMatches('*.example.com', 'mx1.example.com.evil.test'));
    assert.ok(!mxMatches('mail.example.com', 'mail2.example.com'));
  });
});

describe('dot-stuffing', () => {
  test('stuffs leading dots, normalises line endings, ends with CRLF.CRLF', () => {
    assert.equal(
      dotStuff(Buffer.from('a\r\n.b\r\n..c\r\n')).toString(),
      'a\r\n..b\r\n...c\r\n.\r\n',
    );
    assert.equal(dotStuff(Buffer.from('a\n.\nb')).toString(), 'a\r\n..\r\nb\r\n.\r\n');
    assert.equal(dotStuff(Buffer.from('x\r.y\r')).toString(), 'x\r\n..y\r\n.\r\n');
    assert.equal(dotStuff(Buffer.from('')).toString(), '.\r\n');
    assert.equal(dotStuff(Buffer.from('.')).toString(), '..\r\n.\r\n');
  });

  test('works across chunk boundaries', () => {
    const stuffer = new DotStuffer();
    const out = Buffer.concat([
      stuffer.push(Buffer.from('a\r')),
      stuffer.push(Buffer.from('\n.')),
      stuffer.push(Buffer.from('b\r')),
      stuffer.end(),
    ]).toString();
    assert.equal(out, 'a\r\n..b\r\n.\r\n');
  });

  test('the whole-message fast path gives the same bytes as the byte-by-byte stuffer', () => {
    // Messages built from pieces that hit every case: CRLF, bare CR/LF, leading dots.
    const pieces = ['a', '.', '..', '\r\n', '\n', '\r', 'x y', '\r\n.', '\r\n\r\n'];
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let i = 0; i < 2000; i++) {
      let text = '';
      const length = Math.floor(random() * 12);
      for (let j = 0; j < length; j++) text += pieces[Math.floor(random() * pieces.length)];
      const stuffer = new DotStuffer();
      const slow = Buffer.concat([stuffer.push(Buffer.from(text)), stuffer.end()]);
      assert.deepEqual(dotStuff(Buffer.from(text)), slow, JSON.stringify(text));
    }
  });
});

describe('SMTP replies', () => {
  test('parses lines, multi-line replies, enhanced codes and capabilities', () => {
    assert.deepEqual(parseReplyLine('250-mx.test'), { code: 250, last: false, text: 'mx.test' });
    assert.deepEqual(parseReplyLine('220'), { code: 220, last: true, text: '' });
    assert.equal(parseReplyLine('hello'), undefined);
    assert.equal(parseReplyLine('600 nope'), undefined);
    const reply = buildReply([
      { code: 250, last: false, text: 'mx.test hello' },
      { code: 250, last: false, text: 'SIZE 1000' },
      { code: 250, last: true, text: 'starttls' },
    ]);
    assert.deepEqual(
      [...parseCapabilities(reply)],
      [
        ['SIZE', '1000'],
        ['STARTTLS', ''],
      ],
    );
    const queued = buildReply([{ code: 250, last: true, text: '2.0.0 Ok: queued as 4Xyz12' }]);
    assert.equal(queued.enhanced, '2.0.0');
    assert.equal(queued.text, 'Ok: queued as 4Xyz12');
    assert.equal(queueIdFrom(queued), '4Xyz12');
  });

  test('every reason has an explanation and a fix', () => {
    for (const [code, info] of Object.entries(REASONS)) {
      assert.ok(info.explanation.length > 10 && info.fix.length > 10, code);
    }
  });
});
