// An MX for a recipient domain that is reached by DANE: the domain and the MX host are
// DNSSEC-signed in the test DNS, and the host has a TLSA record (3 1 1) for its key. Used by
// the overview and console tests, which need both DANE and PKIX deliveries.

import { createHash } from 'node:crypto';
import { chainPem, makeLeaf } from '../support/certs.ts';
import { TestSmtpServer } from '../support/smtp-server.ts';
import type { World } from './support.ts';

export async function addDaneMx(
  w: World,
  domain: string,
  address: string,
): Promise<TestSmtpServer> {
  const host = `mx.${domain}`;
  const leaf = await makeLeaf({ names: [host], issuer: w.ca });
  if (w.smtpPort === 0) throw new Error('add a plain MX first: it fixes the SMTP port');
  const server = await TestSmtpServer.start({
    host: address,
    port: w.smtpPort,
    name: host,
    tls: { key: leaf.keyPem, cert: chainPem(leaf) },
  });
  w.servers.push(server);
  w.dns.sign(domain);
  w.dns.sign(host);
  w.dns.set(domain, [{ type: 'MX', preference: 10, exchange: host }]);
  w.dns.set(host, [{ type: 'A', data: address }]);
  w.dns.set(`_${w.smtpPort}._tcp.${host}`, [
    {
      type: 'TLSA',
      usage: 3,
      selector: 1,
      matchingType: 1,
      data: createHash('sha256').update(leaf.spki).digest(),
    },
  ]);
  return server;
}
