// Domain onboarding's settings: what the DNS records an account publishes say (MX hosts,
// SPF, DMARC reports, the ownership label), which suffixes count as public, and the schedule
// of the background verifier (src/accounts/verification.ts).

import { isIP } from 'node:net';
import { ConfigError, custom, hostName, integer, listEntries } from '../settings.ts';

export const ACCOUNT_SETTINGS = {
  mxHosts: custom('SECUREMAIL_MX_HOSTS', {
    doc: 'The two host names account owners point their bounce-subdomain MX records at.',
    shownDefault: '`mx1.<hostname>, mx2.<hostname>`',
    parse: (text, context): [string, string] => {
      const hosts = (text ?? `mx1.${context.hostname}, mx2.${context.hostname}`)
        .split(',')
        .map((h) => hostName('SECUREMAIL_MX_HOSTS', h.trim()));
      if (hosts.length !== 2) {
        throw new ConfigError(
          'SECUREMAIL_MX_HOSTS',
          'must name exactly two host names, comma-separated',
        );
      }
      return [hosts[0]!, hosts[1]!];
    },
  }),
  spfIps: custom('SECUREMAIL_SPF_IPS', {
    doc: 'Comma-separated sending addresses/prefixes for that SPF record',
    shownDefault: 'unset',
    parse: (text) => {
      const ips = listEntries(text);
      for (const ip of ips) {
        const bare = ip.split('/')[0] ?? '';
        if (isIP(bare) === 0)
          throw new ConfigError('SECUREMAIL_SPF_IPS', `"${ip}" is not an IP address or prefix`);
      }
      return ips;
    },
  }),
  spfInclude: custom('SECUREMAIL_SPF_INCLUDE', {
    doc: "Domain the bounce subdomain's SPF record includes",
    shownDefault: 'unset',
    parse: (text) => (text === undefined ? undefined : hostName('SECUREMAIL_SPF_INCLUDE', text)),
  }),
  privateSuffixes: custom('SECUREMAIL_PRIVATE_SUFFIXES', {
    doc: 'Extra suffixes that count as public suffixes for sending domains',
    shownDefault: 'empty',
    parse: (text) =>
      listEntries(text).map((s) => hostName('SECUREMAIL_PRIVATE_SUFFIXES', s.replace(/^\./, ''))),
  }),
  dmarcRua: custom('SECUREMAIL_DMARC_RUA', {
    doc: 'Address for `rua=` in the suggested DMARC record',
    shownDefault: 'unset',
    parse: (text) => mailbox('SECUREMAIL_DMARC_RUA', text),
  }),
  ownershipLabel: custom('SECUREMAIL_OWNERSHIP_LABEL', {
    doc: 'Label of the ownership TXT record under the domain.',
    shownDefault: '`_securemail`',
    parse: ownershipLabel,
  }),
};

export interface AccountSettings {
  /** The two host names account owners point their bounce MX records at. */
  mxHosts: [string, string];
  /** Addresses the SPF record authorizes explicitly (`ip4:` / `ip6:`). */
  spfIps: string[];
  /** What the SPF record of a bounce subdomain includes (`include:` target), if set. */
  spfInclude: string | undefined;
  /**
   * Suffixes taken as public suffixes besides the Public Suffix List, so sending domains
   * under them can be onboarded (SECUREMAIL_PRIVATE_SUFFIXES; private deployments, staging).
   */
  privateSuffixes: string[];
  /** Where DMARC aggregate reports of the suggested record go; undefined: see dmarcRecord(). */
  dmarcRua: string | undefined;
  /** The label under the domain that carries the ownership TXT record, e.g. `_securemail`. */
  ownershipLabel: string;
}

export const VERIFICATION_SETTINGS = {
  firstDelayMinutes: integer('SECUREMAIL_VERIFY_FIRST_DELAY_MINUTES', {
    default: 2,
    min: 1,
    max: 1440,
    doc: 'First check after creation',
  }),
  maxDelayMinutes: integer('SECUREMAIL_VERIFY_MAX_DELAY_MINUTES', {
    default: 60,
    min: 1,
    max: 1440,
    doc: 'Longest delay between checks of an unverified domain.',
  }),
  giveUpHours: integer('SECUREMAIL_VERIFY_GIVE_UP_HOURS', {
    default: 72,
    min: 1,
    max: 24 * 90,
    doc: 'Unverified this long',
  }),
  recheckHours: integer('SECUREMAIL_VERIFY_RECHECK_HOURS', {
    default: 24,
    min: 1,
    max: 24 * 30,
    doc: 'How often a valid domain is checked again.',
  }),
  pollSeconds: integer('SECUREMAIL_VERIFY_POLL_SECONDS', {
    default: 30,
    min: 1,
    max: 3600,
    doc: 'How often the worker looks for due checks.',
  }),
};

/** When the background verifier looks at a domain again; see src/accounts/verification.ts. */
export interface VerificationSchedule {
  /** Delay before the first check after an account is made, doubled per failed check. */
  firstDelayMinutes: number;
  /** The doubling stops here: from then on an unverified domain is checked this often. */
  maxDelayMinutes: number;
  /** An unverified domain becomes `failed` when it has not verified for this long. */
  giveUpHours: number;
  /** How often a `valid` domain is checked again. */
  recheckHours: number;
  /** How often the worker looks for due checks. */
  pollSeconds: number;
}

/** The schedule must not shrink: the longest delay is at least the first one. */
export function checkVerificationSchedule(schedule: VerificationSchedule): VerificationSchedule {
  if (schedule.maxDelayMinutes < schedule.firstDelayMinutes) {
    throw new ConfigError(
      'SECUREMAIL_VERIFY_MAX_DELAY_MINUTES',
      `must not be below SECUREMAIL_VERIFY_FIRST_DELAY_MINUTES (${schedule.firstDelayMinutes})`,
    );
  }
  return schedule;
}

// An e-mail address for a `mailto:` URI in DNS; the `mailto:` prefix may be given or not.
function mailbox(name: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const address = text.replace(/^mailto:/i, '');
  const at = address.lastIndexOf('@');
  if (at <= 0 || /[\s,;!]/.test(address)) {
    throw new ConfigError(name, `must be an e-mail address, got "${text}"`);
  }
  const domain = hostName(name, address.slice(at + 1));
  return `${address.slice(0, at)}@${domain}`;
}

function ownershipLabel(text: string | undefined): string {
  if (text === undefined) return '_securemail';
  const label = text.toLowerCase();
  if (!/^_?[a-z0-9]([a-z0-9-]{0,60}[a-z0-9])?$/.test(label)) {
    throw new ConfigError(
      'SECUREMAIL_OWNERSHIP_LABEL',
      `must be one DNS label such as "_securemail", got "${text}"`,
    );
  }
  return label;
}
