// Files an operator must get right and back up: the data directory (the SQLite database and
// the generated master key live there, private to the service's user), the master key, the
// bounce MX's certificate and key, and the extra CA file of outbound checks. The service
// tightens modes it finds too open at start (src/store/private-files.ts); the doctor only
// reports them.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config.ts';
import { MASTER_KEY_FILE, readMasterKey } from '../secrets/master-key.ts';
import { readCaFile } from '../security/settings.ts';
import { type Finding, fail, info, ok, warn } from './finding.ts';

const GROUP_AND_OTHERS = 0o077;
const octal = (mode: number) => (mode & 0o7777).toString(8);
const DAY_MS = 86_400_000;
/** A certificate this close to its end is worth a warning. */
const EXPIRY_WARNING_DAYS = 14;

function statOf(file: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The data directory: private to this user, and writable by it. */
export function checkDataDir(
  dataDir: string,
  uses: { sqlite: boolean; keyFile: boolean },
): Finding {
  const check = 'data-dir';
  const stat = statOf(dataDir);
  if (stat === undefined) {
    return uses.sqlite || uses.keyFile
      ? info(check, `${dataDir} does not exist yet; the first start makes it (mode 700)`)
      : info(
          check,
          `${dataDir} is not used: the database is PostgreSQL and the master key comes from SECUREMAIL_MASTER_KEY`,
        );
  }
  if (!stat.isDirectory())
    return fail(check, `${dataDir} is not a directory`, 'set SECUREMAIL_DATA_DIR to a directory');
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    return warn(
      check,
      `${dataDir} belongs to uid ${stat.uid}, not to this user (uid ${uid})`,
      'run the doctor as the user the service runs as, or give the directory to that user',
    );
  }
  try {
    accessSync(dataDir, constants.W_OK | constants.X_OK);
  } catch {
    return fail(check, `${dataDir} is not writable by this user`, `chmod 700 ${dataDir}`);
  }
  if ((Number(stat.mode) & GROUP_AND_OTHERS) !== 0) {
    return warn(
      check,
      `${dataDir} is open to group or others (mode ${octal(Number(stat.mode))}); the service makes it 700 at start`,
      `chmod 700 ${dataDir}`,
    );
  }
  const open = uses.sqlite
    ? ['securemail.db', 'securemail.db-wal', 'securemail.db-shm']
        .map((name) => path.join(dataDir, name))
        .filter((file) => {
          const s = statOf(file);
          return s !== undefined && (Number(s.mode) & GROUP_AND_OTHERS) !== 0;
        })
    : [];
  if (open.length > 0)
    return warn(
      check,
      `${open.join(', ')} readable by group or others`,
      `chmod 600 ${open.join(' ')}`,
    );
  return ok(check, `${dataDir} is private to this user (mode ${octal(Number(stat.mode))})`);
}

/** The master key: where it comes from, that it is one, and that only its owner reads it. */
export function checkMasterKey(configured: string | undefined, dataDir: string): Finding {
  const check = 'master-key';
  let loaded: ReturnType<typeof readMasterKey>;
  try {
    loaded = readMasterKey(configured, dataDir);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return fail(check, error.message, 'restore the key from your backup');
  }
  const file = path.join(dataDir, MASTER_KEY_FILE);
  if (loaded === undefined) {
    return warn(
      check,
      `no SECUREMAIL_MASTER_KEY and no ${file}: the first start generates the key there`,
      'after the first start, back the key up separately from the database (or set ' +
        'SECUREMAIL_MASTER_KEY from a secret store: openssl rand -base64 32)',
    );
  }
  if (loaded.source === 'environment') {
    const unused = statOf(file) !== undefined ? ` (${file} is not used)` : '';
    return ok(check, `from SECUREMAIL_MASTER_KEY${unused}`);
  }
  const mode = Number(statOf(file)?.mode ?? 0);
  if ((mode & GROUP_AND_OTHERS) !== 0) {
    return fail(
      check,
      `${file} is readable by group or others (mode ${octal(mode)}): whoever reads it can open DKIM keys and queued messages`,
      `chmod 600 ${file} (the service also does at start), and consider the key exposed`,
    );
  }
  return ok(check, `${file} (mode ${octal(mode)}); keep a backup apart from the database`);
}

/** The bounce MX's certificate and key (SECUREMAIL_MX_TLS_CERT/_KEY): files or PEM. */
export function checkMxTls(
  cert: string | undefined,
  key: string | undefined,
  mxHosts: readonly string[],
  enabled: boolean,
  now: number,
): Finding[] {
  const check = 'mx-tls';
  if (!enabled) return [];
  if (cert === undefined || key === undefined) {
    return [
      warn(
        check,
        'no SECUREMAIL_MX_TLS_CERT/_KEY: the bounce MX offers STARTTLS with a self-signed certificate',
        `configure a certificate for ${mxHosts.join(' and ')} (e.g. from Let's Encrypt)`,
      ),
    ];
  }
  const findings: Finding[] = [];
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pemOrFile(cert));
  } catch (error) {
    return [
      fail(
        check,
        `SECUREMAIL_MX_TLS_CERT: ${(error as Error).message}`,
        'give a PEM certificate or its file',
      ),
    ];
  }
  const notAfter = Date.parse(certificate.validTo);
  if (notAfter < now || Date.parse(certificate.validFrom) > now) {
    findings.push(
      fail(
        check,
        `the bounce MX certificate is not valid now (${certificate.validFrom} to ${certificate.validTo})`,
        'renew it',
      ),
    );
  } else if (notAfter - now < EXPIRY_WARNING_DAYS * DAY_MS) {
    findings.push(
      warn(
        check,
        `the bounce MX certificate expires on ${certificate.validTo}`,
        'renew it (and automate renewal)',
      ),
    );
  }
  const uncovered = mxHosts.filter((host) => certificate.checkHost(host) === undefined);
  if (uncovered.length > 0) {
    findings.push(
      warn(
        check,
        `the bounce MX certificate does not name ${uncovered.join(', ')}`,
        'use a certificate for both SECUREMAIL_MX_HOSTS',
      ),
    );
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(pemOrFile(key))))
      findings.push(
        fail(
          check,
          'SECUREMAIL_MX_TLS_KEY is not the key of SECUREMAIL_MX_TLS_CERT',
          'give the matching key',
        ),
      );
  } catch (error) {
    findings.push(
      fail(
        check,
        `SECUREMAIL_MX_TLS_KEY: ${(error as Error).message}`,
        'give a PEM private key or its file',
      ),
    );
  }
  if (!key.startsWith('-----BEGIN')) {
    const mode = Number(statOf(key)?.mode ?? 0);
    if ((mode & GROUP_AND_OTHERS) !== 0)
      findings.push(
        warn(
          check,
          `${key} is readable by group or others (mode ${octal(mode)})`,
          `chmod 600 ${key}`,
        ),
      );
  }
  if (findings.length === 0)
    findings.push(
      ok(
        check,
        `the bounce MX certificate names ${mxHosts.join(' and ')}, valid until ${certificate.validTo}`,
      ),
    );
  return findings;
}

/** SECUREMAIL_CA_FILE: readable, certificates, none expired. */
export function checkCaFile(file: string | undefined, now: number): Finding {
  const check = 'ca-file';
  if (file === undefined)
    return ok(check, 'no SECUREMAIL_CA_FILE: PKIX trusts the CA roots bundled with Node.js only');
  let pems: string[];
  try {
    pems = readCaFile(file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return fail(
      check,
      error.message,
      'fix or unset SECUREMAIL_CA_FILE (the service refuses to start with it)',
    );
  }
  const expired = pems
    .map((pem) => new X509Certificate(pem))
    .filter((c) => Date.parse(c.validTo) < now)
    .map((c) => c.subject.replace(/\n/g, ', '));
  if (expired.length > 0) {
    return warn(
      check,
      `${file}: ${expired.length} of ${pems.length} certificates expired (${expired.join('; ')})`,
      'remove or renew them',
    );
  }
  return ok(check, `${file}: ${pems.length} certificate(s) trusted besides the bundled roots`);
}

function pemOrFile(value: string): string {
  return value.startsWith('-----BEGIN') ? value : readFileSync(value, 'utf8');
}
