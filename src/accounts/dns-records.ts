// The DNS records an account owner must publish, as `GET /account` shows them, with the
// status of the last check. The records of the bounce subdomain point at the platform; the
// apex keeps the owner's own mail, so nothing here ever asks for an MX on the apex.

import type { Account, DkimAlgorithm, DkimKey } from '../store/schema.ts';
import { dkimHostname, dkimRecordValue } from './dkim-keys.ts';
import type { AccountSettings } from './settings.ts';

export type RecordStatus = 'pending' | 'success' | 'failed';

export interface DnsRecordView {
  hostname: string;
  type: 'MX' | 'TXT' | 'CNAME';
  value: string;
  status: RecordStatus;
  /** What was found instead (and hints), when status is not `success`; for DMARC also on success. */
  detail?: string;
  /** MX preference, for MX records. */
  priority?: number;
  /**
   * Set when the value cannot work on the internet because of how this service is set up
   * (a host name under `localhost`): do not publish it; the operator must set the platform's
   * host names first.
   */
  warning?: string;
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

export const OWNERSHIP_PREFIX = 'securemail-verification=';

/** What the expected records depend on: onboarding's settings and the platform's host name. */
export type RecordsConfig = AccountSettings & { hostname: string };

export type RecordGroup = 'mx' | 'spf' | 'dkim' | 'dmarc' | 'ses';

/** One record to publish, with what verification needs to know about it. */
export interface ExpectedRecord {
  /** Stable key of the record in stored results: `mx:<host>`, `spf`, `dkim:<selector>`, `dmarc`, `ses`. */
  key: string;
  group: RecordGroup;
  hostname: string;
  type: 'MX' | 'TXT';
  value: string;
  priority?: number;
  /** Must pass for the domain to be `valid`. DMARC and DKIM keys of a pending rotation need not. */
  required: boolean;
  dkim?: { algorithm: DkimAlgorithm; publicKey: string; pending: boolean };
  /** Why the value cannot work as the service is configured (see platformWarnings). */
  warning?: string;
  /** Advice given while the record is missing (the DMARC suggestion). */
  advice?: string;
}

/** The stored result of checking one record. */
export interface RecordResult {
  /** `unknown`: every check so far failed to look the record up (see lookupProblem). */
  status: 'success' | 'failed' | 'unknown';
  detail?: string;
  /** The record found, when it replaces the suggested value (an existing DMARC record). */
  found?: string;
  /**
   * The last check could not look the record up (a DNS failure), in words; `status` and
   * `detail` are then those of the check before, which are kept.
   */
  lookupProblem?: string;
}

export type StoredResults = Record<string, RecordResult>;

/**
 * Host names no resolver on the internet answers for (RFC 6761 `localhost` and `invalid`,
 * and single labels): records pointing at them cannot work for anyone.
 */
export function isLocalOnlyHost(name: string): boolean {
  const host = name.toLowerCase().replace(/\.$/, '');
  return (
    !host.includes('.') ||
    host.endsWith('.localhost') ||
    host.endsWith('.invalid') ||
    host === 'localhost'
  );
}

export interface PlatformWarnings {
  /** The bounce MX records name hosts that are not on the internet. */
  mx?: string;
  /** The SPF record authorizes only a host that is not on the internet. */
  spf?: string;
  /** The EHLO name itself is local-only (receivers may refuse it). */
  hostname?: string;
}

/**
 * What is wrong with the platform's own names for a deployment on the internet, by the
 * setting to change. With the defaults (`SECUREMAIL_HOSTNAME=localhost`) every account
 * would be handed `mx1.localhost` and `a:localhost`: the start-up log and each such record in
 * the API say so.
 */
export function platformWarnings(config: RecordsConfig): PlatformWarnings {
  const warnings: PlatformWarnings = {};
  if (isLocalOnlyHost(config.hostname)) {
    warnings.hostname = `SECUREMAIL_HOSTNAME is "${config.hostname}", not a name on the internet: it is the EHLO name receiving servers see, the default base of SECUREMAIL_MX_HOSTS and, without SECUREMAIL_SPF_INCLUDE or SECUREMAIL_SPF_IPS, what the SPF record authorizes.`;
  }
  const localMx = config.mxHosts.filter(isLocalOnlyHost);
  if (localMx.length > 0) {
    warnings.mx = `${localMx.join(' and ')} cannot receive bounces: not a host name on the internet. The operator of this service must set SECUREMAIL_MX_HOSTS (or SECUREMAIL_HOSTNAME) first; do not publish this record until then.`;
  }
  if (
    config.spfInclude === undefined &&
    config.spfIps.length === 0 &&
    isLocalOnlyHost(config.hostname)
  ) {
    warnings.spf = `a:${config.hostname} authorizes no sending address on the internet. The operator of this service must set SECUREMAIL_SPF_INCLUDE or SECUREMAIL_SPF_IPS (or SECUREMAIL_HOSTNAME) first; do not publish this record until then.`;
  }
  return warnings;
}

export function spfValue(config: RecordsConfig): string {
  const mechanisms: string[] = [];
  if (config.spfInclude !== undefined) mechanisms.push(`include:${config.spfInclude}`);
  for (const ip of config.spfIps) mechanisms.push(`${ip.includes(':') ? 'ip6' : 'ip4'}:${ip}`);
  // Without explicit sending addresses, authorize the platform host's own A/AAAA.
  if (mechanisms.length === 0) mechanisms.push(`a:${config.hostname}`);
  return `v=spf1 ${mechanisms.join(' ')} ~all`;
}

/**
 * Where the suggested DMARC record sends aggregate reports: SECUREMAIL_DMARC_RUA, else the
 * notification address when it is inside the domain, else `dmarc-reports@<domain>` (reports
 * to another domain need that domain's consent record, RFC 7489 7.1, which the owner would
 * not have; an address in the domain needs none).
 */
export function dmarcReportAddress(account: Account, config: RecordsConfig): string {
  const email = account.notification_email;
  const emailDomain = email.slice(email.lastIndexOf('@') + 1).toLowerCase();
  const inDomain = emailDomain === account.domain || emailDomain.endsWith(`.${account.domain}`);
  return config.dmarcRua ?? (inDomain ? email : `dmarc-reports@${account.domain}`);
}

/**
 * The suggested DMARC record for a domain that has none: `p=none` with a report address.
 * A domain-wide `p=quarantine` as the first step can send the owner's other mail (their own
 * servers, a newsletter service, invoices from an accounting package) to spam before anyone
 * has seen a report of who sends as the domain; `p=none` only asks for the reports.
 */
export function dmarcValue(account: Account, config: RecordsConfig): string {
  return `v=DMARC1; p=none; rua=mailto:${dmarcReportAddress(account, config)}`;
}

/** The advice given with the suggested DMARC record while the domain publishes none. */
export function dmarcAdvice(account: Account, config: RecordsConfig): string {
  const rua = dmarcReportAddress(account, config);
  return (
    `Start with the suggested p=none: it changes nothing about how your mail is handled, and receivers send daily reports to ${rua}` +
    `${rua.startsWith('dmarc-reports@') ? ' (create that mailbox, or put an address of yours in rua=)' : ''}` +
    ' of every server that sends mail as your domain. Once the reports show that all your own mail passes (this service, your mail servers, newsletters, invoicing tools), ' +
    'change p=none to p=quarantine, optionally phased in with pct=25, then pct=100, and later to p=reject. ' +
    'A domain-wide p=quarantine straight away can send legitimate mail of yours that is not yet set up to spam.'
  );
}

export function bounceHostname(account: Account): string {
  return `${account.bounce_subdomain}.${account.domain}`;
}

export function ownershipHostname(account: Account, config: RecordsConfig): string {
  return `${config.ownershipLabel}.${account.domain}`;
}

/** Every record the account needs, in display order. `keys`: the account's active and pending DKIM keys. */
export function expectedRecords(
  account: Account,
  config: RecordsConfig,
  keys: readonly DkimKey[],
): ExpectedRecord[] {
  const bounceHost = bounceHostname(account);
  const warnings = platformWarnings(config);
  const records: ExpectedRecord[] = config.mxHosts.map((host, i) => ({
    key: `mx:${host}`,
    group: 'mx',
    hostname: bounceHost,
    type: 'MX',
    value: host,
    priority: 10 * (i + 1),
    required: true,
    ...(warnings.mx !== undefined && isLocalOnlyHost(host) ? { warning: warnings.mx } : {}),
  }));
  records.push({
    key: 'spf',
    group: 'spf',
    hostname: bounceHost,
    type: 'TXT',
    value: spfValue(config),
    required: true,
    ...(warnings.spf === undefined ? {} : { warning: warnings.spf }),
  });
  for (const key of keys) {
    if (key.status === 'retired') continue;
    const pending = key.status === 'pending';
    records.push({
      key: `dkim:${key.selector}`,
      group: 'dkim',
      hostname: dkimHostname(key.selector, account.domain),
      type: 'TXT',
      value: dkimRecordValue(key.algorithm, key.public_key),
      // Until a rotation verifies, mail is signed with the active keys only.
      required: !pending,
      dkim: { algorithm: key.algorithm, publicKey: key.public_key, pending },
    });
  }
  records.push({
    key: 'dmarc',
    group: 'dmarc',
    hostname: `_dmarc.${account.domain}`,
    type: 'TXT',
    value: dmarcValue(account, config),
    required: false,
    advice: dmarcAdvice(account, config),
  });
  records.push({
    key: 'ses',
    group: 'ses',
    hostname: ownershipHostname(account, config),
    type: 'TXT',
    value: `${OWNERSHIP_PREFIX}${account.ownership_token}`,
    required: true,
  });
  return records;
}

export const NOT_CHECKED = 'not checked yet';

/**
 * What a record's status needs saying: why it is not (yet) found, or that the last lookup
 * failed (which resolver, which query, what happened) and which earlier result still stands.
 */
export function resultDetail(result: RecordResult | undefined): string | undefined {
  if (result === undefined) return NOT_CHECKED;
  if (result.lookupProblem === undefined || result.status === 'unknown') {
    return result.lookupProblem ?? result.detail;
  }
  const before =
    result.status === 'success'
      ? 'found'
      : `not found${result.detail === undefined ? '' : `: ${result.detail.replace(/\.$/, '')}`}`;
  return `${result.lookupProblem} The check before: ${before}.`;
}

function recordView(record: ExpectedRecord, result: RecordResult | undefined): DnsRecordView {
  const view: DnsRecordView = {
    hostname: record.hostname,
    type: record.type,
    value: result?.found ?? record.value,
    status: result === undefined || result.status === 'unknown' ? 'pending' : result.status,
  };
  if (record.priority !== undefined) view.priority = record.priority;
  if (record.warning !== undefined) view.warning = record.warning;
  const detail = resultDetail(result);
  if (detail !== undefined) view.detail = detail;
  if (record.dkim?.pending) {
    const note = 'New key of a rotation: publish it; signing switches to it once it verifies.';
    view.detail = view.detail === undefined ? note : `${note} ${view.detail}`;
  }
  return view;
}

/** The response shape of the records, with the stored status of each. */
export function recordsView(
  expected: readonly ExpectedRecord[],
  results: StoredResults,
): AccountRecords {
  const view = (group: RecordGroup) =>
    expected.filter((r) => r.group === group).map((r) => recordView(r, results[r.key]));
  const one = (group: RecordGroup): DnsRecordView => {
    const [first] = view(group);
    if (first === undefined) throw new Error(`no ${group} record`);
    return first;
  };
  return {
    receiving_dns_records: { mx: view('mx') },
    sending_dns_records: {
      spf: one('spf'),
      dkim: view('dkim'),
      dmarc: one('dmarc'),
      ses: one('ses'),
    },
  };
}

/** A record as a list names it: the MX records of one name differ only by their value. */
export function recordLabel(record: ExpectedRecord): string {
  return `${record.type} ${record.hostname}${record.type === 'MX' ? ` ${record.value}` : ''}`;
}

/**
 * The required records that did not pass, for 412 answers and notices: `failed` when a
 * check found them missing or wrong, `unknown` when they were never checked or could not be
 * looked up (then the detail says what DNS did).
 */
export function missingRecords(
  expected: readonly ExpectedRecord[],
  results: StoredResults,
): Array<ExpectedRecord & { detail: string; status: 'failed' | 'unknown' }> {
  return expected
    .filter((r) => r.required && results[r.key]?.status !== 'success')
    .map((r) => {
      const result = results[r.key];
      return {
        ...r,
        status: result?.status === 'failed' ? 'failed' : 'unknown',
        detail: resultDetail(result) ?? 'not found',
      };
    });
}

export function parseStoredResults(json: string | undefined): StoredResults {
  if (json === undefined) return {};
  try {
    const value: unknown = JSON.parse(json);
    return value !== null && typeof value === 'object' ? (value as StoredResults) : {};
  } catch {
    return {};
  }
}
