// A private Postfix instance for interop tests: its own configuration, queue and mailboxes
// in a temporary directory, listening on loopback addresses only, delivering to Maildirs, and
// unable to send anything anywhere (every outbound transport is `error:`, DNS is off).
// Needs Debian's postfix package and root (the master process starts as root, as in life);
// `postfixAvailable()` says whether this machine has both, so a test can skip cleanly.

import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';

const POSTFIX = '/usr/sbin/postfix';
const POSTMAP = '/usr/sbin/postmap';
/** Debian's nobody: what the virtual delivery agent writes Maildirs as. */
const MAILBOX_UID = 65534;

export function postfixAvailable(): string | undefined {
  if (!existsSync(POSTFIX) || !existsSync(POSTMAP)) return 'Postfix is not installed';
  if (process.getuid?.() !== 0) return 'a Postfix master process needs root';
  return undefined;
}

export interface PostfixListener {
  address: string;
  port: number;
  /** Offer STARTTLS with the instance's certificate (otherwise no TLS at all). */
  tls: boolean;
}

export interface PostfixOptions {
  dir: string;
  listeners: PostfixListener[];
  /** Mailbox addresses, by domain: every other local part is refused with 550 5.1.1. */
  mailboxes: string[];
  certChainPem: string;
  keyPem: string;
}

export class TestPostfix {
  readonly #dir: string;
  readonly #conf: string;

  private constructor(dir: string) {
    this.#dir = dir;
    this.#conf = path.join(dir, 'conf');
  }

  static start(options: PostfixOptions): TestPostfix {
    const postfix = new TestPostfix(options.dir);
    postfix.#configure(options);
    try {
      execFileSync(POSTFIX, ['-c', postfix.#conf, 'start'], { stdio: 'ignore' });
    } catch (error) {
      // Postfix writes why to its log, not to a stderr that is not a terminal.
      throw new Error(`postfix did not start:\n${postfix.log()}`, { cause: error });
    }
    return postfix;
  }

  /** Lines of the instance's log (smtpd sessions, queue, deliveries). */
  log(): string {
    const file = path.join(this.#dir, 'maillog');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  /** The messages delivered to `address` so far, as stored (LF line ends, Postfix's headers on top). */
  delivered(address: string): string[] {
    const folder = path.join(this.#dir, 'mail', mailboxFolder(address), 'new');
    if (!existsSync(folder)) return [];
    return readdirSync(folder)
      .sort()
      .map((name) => readFileSync(path.join(folder, name), 'utf8'));
  }

  stop(): void {
    try {
      execFileSync(POSTFIX, ['-c', this.#conf, 'stop'], { stdio: 'ignore' });
    } catch {
      // Not running (a failed start): nothing to stop.
    }
  }

  #configure(options: PostfixOptions): void {
    const dir = this.#dir;
    const conf = this.#conf;
    for (const sub of ['conf', 'spool', 'data', 'mail', 'tls']) {
      mkdirSync(path.join(dir, sub), { recursive: true });
    }
    // Postfix's daemons run as the postfix user and as nobody: they must reach their files.
    chmodSync(dir, 0o755);
    chownSync(path.join(dir, 'data'), postfixUid(), 0);
    chownSync(path.join(dir, 'mail'), MAILBOX_UID, 0);
    writeFileSync(path.join(dir, 'tls', 'chain.pem'), options.certChainPem);
    writeFileSync(path.join(dir, 'tls', 'key.pem'), options.keyPem, { mode: 0o600 });

    const domains = [...new Set(options.mailboxes.map((a) => a.slice(a.lastIndexOf('@') + 1)))];
    writeFileSync(
      path.join(conf, 'vmailbox'),
      options.mailboxes.map((a) => `${a} ${mailboxFolder(a)}/\n`).join(''),
    );
    execFileSync(POSTMAP, [path.join(conf, 'vmailbox')]);
    writeFileSync(path.join(conf, 'main.cf'), mainCf(dir, domains));
    copyFileSync('/etc/postfix/dynamicmaps.cf', path.join(conf, 'dynamicmaps.cf'));
    writeFileSync(path.join(conf, 'master.cf'), masterCf(options.listeners));
  }
}

function postfixUid(): number {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postfix:'));
  if (line === undefined) throw new Error('no postfix user in /etc/passwd');
  return Number(line.split(':')[2]);
}

/** One Maildir per address, named so that any address is a safe folder name. */
function mailboxFolder(address: string): string {
  return Buffer.from(address.toLowerCase()).toString('hex');
}

function mainCf(dir: string, domains: string[]): string {
  return `compatibility_level = 3.6
queue_directory = ${dir}/spool
data_directory = ${dir}/data
mail_owner = postfix
myhostname = mx.interop.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks =
smtpd_relay_restrictions = reject_unauth_destination
virtual_mailbox_domains = ${domains.join(' ')}
virtual_mailbox_maps = hash:${dir}/conf/vmailbox
virtual_mailbox_base = ${dir}/mail
virtual_mailbox_limit = 0
virtual_uid_maps = static:${MAILBOX_UID}
virtual_gid_maps = static:${MAILBOX_UID}
message_size_limit = 52428800
smtputf8_enable = yes
smtpd_tls_cert_file = ${dir}/tls/chain.pem
smtpd_tls_key_file = ${dir}/tls/key.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_peername_lookup = no
# Nothing leaves this instance: no bounce, no relay, no DNS.
default_transport = error:interop test instance
relay_transport = error:interop test instance
smtp_dns_support_level = disabled
maillog_file = ${dir}/maillog
maillog_file_prefixes = ${dir}
`;
}

/** Debian's master.cf less its public smtp listener, plus ours. */
function masterCf(listeners: PostfixListener[]): string {
  const base = readFileSync('/etc/postfix/master.cf', 'utf8')
    .split('\n')
    .filter((line) => !/^smtp\s+inet\s/.test(line))
    .join('\n');
  const ours = listeners.map(
    (l) =>
      `${l.address}:${l.port} inet n - n - - smtpd` +
      (l.tls ? '' : '\n  -o smtpd_tls_security_level=none'),
  );
  return `${base}\n${ours.join('\n')}\n`;
}
