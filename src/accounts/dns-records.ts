// The DNS records an account owner must publish, as `GET /account` shows them.
// The records of the bounce subdomain point at the platform; the apex keeps the owner's own
// mail, so nothing here ever asks for an MX on the apex.

import type { Config } from '../config.ts';
import type { Account } from '../store/schema.ts';

export type RecordStatus = 'pending' | 'success' | 'failed';

export interface DnsRecordView {
  hostname: string;
  type: 'MX' | 'TXT' | 'CNAME';
  value: string;
  status: RecordStatus;
  /** What was found instead, when status is not `success`. */
  detail?: string;
  /** MX preference, for MX records. */
  priority?: number;
}

export interface AccountRecords {
  receiving_dns_records: { mx: DnsRecordView[] };
  sending_dns_records: {
    spf: DnsRecordView;
    dkim: DnsRecordView[];
    dmarc: DnsRecordView;
    ses: DnsRecordView;
  };
}

export const OWNERSHIP_LABEL = '_securemail';
export const OWNERSHIP_PREFIX = 'securemail-verification=';

type RecordsConfig = Pick<Config, 'mxHosts' | 'spfInclude' | 'spfIps' | 'hostname'>;

export function spfValue(config: RecordsConfig): string {
  const mechanisms: string[] = [];
  if (config.spfInclude !== undefined) mechanisms.push(`include:${config.spfInclude}`);
  for (const ip of config.spfIps) mechanisms.push(`${ip.includes(':') ? 'ip6' : 'ip4'}:${ip}`);
  // Without explicit sending addresses, authorize the platform host's own A/AAAA.
  if (mechanisms.length === 0) mechanisms.push(`a:${config.hostname}`);
  return `v=spf1 ${mechanisms.join(' ')} ~all`;
}

/** The records as they should be, every one `pending` until verification says otherwise. */
export function requiredRecords(account: Account, config: RecordsConfig): AccountRecords {
  const bounceHost = `${account.bounce_subdomain}.${account.domain}`;
  const pending = 'not checked yet';
  return {
    receiving_dns_records: {
      mx: config.mxHosts.map((host, i) => ({
        hostname: bounceHost,
        type: 'MX' as const,
        value: host,
        priority: 10 * (i + 1),
        status: 'pending' as const,
        detail: pending,
      })),
    },
    sending_dns_records: {
      spf: {
        hostname: bounceHost,
        type: 'TXT',
        value: spfValue(config),
        status: 'pending',
        detail: pending,
      },
      dkim: [],
      dmarc: {
        hostname: `_dmarc.${account.domain}`,
        type: 'TXT',
        value: 'v=DMARC1; p=quarantine',
        status: 'pending',
        detail: pending,
      },
      ses: {
        hostname: `${OWNERSHIP_LABEL}.${account.domain}`,
        type: 'TXT',
        value: `${OWNERSHIP_PREFIX}${account.ownership_token}`,
        status: 'pending',
        detail: pending,
      },
    },
  };
}
