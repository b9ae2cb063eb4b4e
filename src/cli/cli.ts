// `securemail <command>`: serve, migrate, client, check, inbound, data-subject, report. Returns
// the process exit code.

import pino, { type Logger } from 'pino';
import { ALL_ROLES, type Config, ConfigError, loadConfig, type Role } from '../config.ts';
import { openReadyStore, startService } from '../service.ts';
import { parseOrThrow, UsageError } from './args.ts';
import { runCheckCommand } from './check-command.ts';
import { runClientCommand } from './client-command.ts';
import { runInboundCommand } from './inbound-command.ts';
import { runDataSubjectCommand, runReportCommand } from './privacy-command.ts';

type Env = Readonly<Record<string, string | undefined>>;

const USAGE = `Usage: securemail <command> [options]

Commands:
  serve [--roles api,worker,mx]   start the service (default: all roles)
  migrate                         bring the database schema up to date
  client create --name NAME [--quota N] [--json]
                                  make an OAuth client; prints client_id and client_secret
  client list [--json]            list clients
  client rotate CLIENT_ID [--json]
                                  new secret; revokes the client's tokens
  client delete CLIENT_ID [--force]
                                  delete a client and its tokens (--force: also its accounts)
  check <domain|address>... [--json] [--policy dane-only|authenticated|verified]
                                  can these recipients be reached securely? (sends nothing;
                                  exit 0 all deliverable, 1 any refused, 2 deferred/errors)
  inbound list [--kind KIND] [--limit N] [--json]
                                  what the bounce MX received, newest first
  inbound show ID [--json]        one received message, with its content if kept
  data-subject show --client ID --domain DOMAIN --address ADDRESS
                                  everything the account holds about an address (JSON)
  data-subject erase --client ID --domain DOMAIN --address ADDRESS [--wait-seconds N]
                                  erase it (docs/privacy.md); waits for a delivery in flight
  report --client ID --domain DOMAIN [--from TIME] [--to TIME] [--format json|html|pdf] [--out FILE]
                                  the auditor's report of an account for a period

Configuration comes from the environment; see README.md.`;

export async function runCli(argv: string[], env: Env): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`securemail: configuration error: ${error.message}`);
      return 78; // EX_CONFIG
    }
    throw error;
  }
  // The service logs JSON to stdout; one-shot commands log to stderr so that their own
  // output (e.g. `client create --json`) stays machine-readable.
  const logger = pino(
    { level: config.logLevel, base: { service: 'securemail' } },
    pino.destination(command === 'serve' ? 1 : 2),
  );
  try {
    switch (command) {
      case 'serve':
        return await serve(rest, config, logger);
      case 'migrate': {
        const { store } = await openReadyStore(config, logger);
        await store.close();
        console.log(`database is up to date (${store.description})`);
        return 0;
      }
      case 'client':
        return await runClientCommand(rest, config, logger);
      case 'check':
        return await runCheckCommand(rest, config, env);
      case 'inbound':
        return await runInboundCommand(rest, config, logger);
      case 'data-subject':
        return await runDataSubjectCommand(rest, config, logger);
      case 'report':
        return await runReportCommand(rest, config, logger);
      default:
        console.error(`securemail: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`securemail: ${error.message}`);
      return 2;
    }
    logger.fatal({ err: error }, error instanceof Error ? error.message : 'failed');
    return 1;
  }
}

async function serve(args: string[], config: Config, logger: Logger): Promise<number> {
  const { values } = parseOrThrow(args, { roles: { type: 'string' } });
  const roles = parseRoles(values.roles);
  const service = await startService(config, logger, roles);
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      const force = setTimeout(() => {
        logger.error('graceful shutdown took too long; exiting');
        process.exit(1);
      }, config.shutdownTimeoutMs);
      force.unref();
      service.stop().then(resolve, (error: unknown) => {
        logger.error({ err: error }, 'error while shutting down');
        resolve();
      });
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  logger.info('stopped');
  return 0;
}

function parseRoles(text: string | undefined): Role[] {
  if (text === undefined || text.trim() === '' || text.trim() === 'all') return [...ALL_ROLES];
  const roles = text.split(',').map((r) => r.trim());
  for (const role of roles) {
    if (!ALL_ROLES.includes(role as Role)) {
      throw new UsageError(`unknown role "${role}"; roles are ${ALL_ROLES.join(', ')}`);
    }
  }
  return roles as Role[];
}
