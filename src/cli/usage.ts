// What each `securemail` command is called with, in one table: the overview that
// `securemail --help` prints and the page that `securemail <command> --help` prints come from
// here, so `--help` works the same on every command, before any setting is read or any
// argument is checked (a broken configuration must not hide the help that explains it).

export interface CommandHelp {
  /** One line per form of the command, without the leading `securemail`. */
  synopsis: readonly string[];
  /** One line for the overview. */
  summary: string;
  /** More lines for the command's own page (options, exit codes), if any. */
  details?: readonly string[];
}

export const COMMANDS = {
  serve: {
    synopsis: ['serve [--roles api,worker,mx]'],
    summary: 'start the service (default: all roles)',
    details: [
      'Stops gracefully on SIGTERM/SIGINT. JSON logs on stdout (SECUREMAIL_LOG_FORMAT=pretty',
      'for people).',
    ],
  },
  migrate: {
    synopsis: ['migrate'],
    summary: 'bring the database schema up to date',
  },
  doctor: {
    synopsis: ['doctor [--json]'],
    summary: 'check this deployment: DNS, ports, files, database, clock, CA file',
    details: [
      'One line per finding, with what to do. Changes nothing. Exit 0 when nothing failed',
      '(warnings allowed), 1 when something failed.',
    ],
  },
  client: {
    synopsis: [
      'client create --name NAME [--quota N] [--json]',
      'client list [--json]',
      'client rotate CLIENT_ID [--json]',
      'client delete CLIENT_ID [--force]',
    ],
    summary: 'OAuth clients (tenants): make, list, new secret, delete',
    details: [
      "create prints client_id and client_secret once; rotate revokes the client's tokens;",
      'delete --force also deletes the accounts the client owns.',
    ],
  },
  accounts: {
    synopsis: [
      'accounts list [--client CLIENT_ID] [--state STATE] [--json]',
      'accounts show DOMAIN|ACCOUNT_ID [--json]',
    ],
    summary: 'sending domains of every client, with their state and DNS records',
  },
  messages: {
    synopsis: [
      'messages list [--status S] [--domain D] [--client C] [--kind K] [--since TIME] [--limit N] [--json]',
      'messages show MESSAGE_ID [--json]',
    ],
    summary: "messages of every client; one message with each recipient's status and evidence",
    details: [
      '--status: a recipient status (messages with at least one recipient in it);',
      '--since: an ISO time or a duration back from now (30m, 6h, 2d); --limit 1 to 1000',
      '(default 50); --kind message or notification.',
    ],
  },
  queue: {
    synopsis: ['queue [--limit N] [--json]'],
    summary: 'what waits for delivery: counts, oldest deferred, next attempt, per destination',
    details: ['--limit: destinations shown, 1 to 1000 (default 20), the largest first.'],
  },
  suppressions: {
    synopsis: ['suppressions [--domain D] [--client C] [--limit N] [--json]'],
    summary: 'suppressed addresses, per account',
  },
  check: {
    synopsis: ['check <domain|address>... [--json] [--policy dane-only|authenticated|verified]'],
    summary: 'can these recipients be reached securely? (sends nothing)',
    details: ['Exit 0 all deliverable, 1 any refused, 2 deferred or errors.'],
  },
  inbound: {
    synopsis: ['inbound list [--kind KIND] [--limit N] [--json]', 'inbound show ID [--json]'],
    summary: 'what the bounce MX received, newest first; one message with its content',
  },
  'data-subject': {
    synopsis: [
      'data-subject show --client ID --domain DOMAIN --address ADDRESS',
      'data-subject erase --client ID --domain DOMAIN --address ADDRESS [--wait-seconds N]',
    ],
    summary: "a data subject's access (JSON) and erasure, as the API does them",
    details: [
      'erase waits for a delivery in flight up to --wait-seconds (default: the lease);',
      'see docs/privacy.md.',
    ],
  },
  report: {
    synopsis: [
      'report --client ID --domain DOMAIN [--from TIME] [--to TIME] [--format json|html|pdf] [--out FILE]',
    ],
    summary: "the auditor's report of an account for a period (a PDF needs --out)",
  },
} as const satisfies Record<string, CommandHelp>;

export type CommandName = keyof typeof COMMANDS;

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

const FOOTER = [
  'Configuration comes from the environment (README.md, "Configuration").',
  'Exit codes: 0 success, 1 failure, 2 wrong usage, 78 configuration error.',
];

/** `securemail --help`: every command with its forms and one line each. */
export function overview(): string {
  const lines = ['Usage: securemail <command> [options]', '', 'Commands:'];
  for (const help of Object.values(COMMANDS) as CommandHelp[]) {
    for (const form of help.synopsis) lines.push(`  ${form}`);
    lines.push(`      ${help.summary}`);
  }
  lines.push('', 'securemail <command> --help shows one command.', ...FOOTER);
  return lines.join('\n');
}

/** `securemail <command> --help`. */
export function commandHelp(name: CommandName): string {
  const help: CommandHelp = COMMANDS[name];
  const lines = help.synopsis.map(
    (form, i) => `${i === 0 ? 'Usage:' : '      '} securemail ${form}`,
  );
  lines.push('', `${help.summary[0]!.toUpperCase()}${help.summary.slice(1)}.`);
  if (help.details !== undefined) lines.push(...help.details);
  lines.push('', ...FOOTER);
  return lines.join('\n');
}

/** Whether the arguments ask for help: `--help` or `-h` before any `--`. */
export function asksForHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}
