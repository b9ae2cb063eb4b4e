// `securemail <command>`: serve, migrate, doctor, client, accounts, messages, queue,
// suppressions, check, inbound, data-subject, report. Returns the process exit code.

import type { Logger } from 'pino';
import { ALL_ROLES, type Config, ConfigError, loadConfig, type Role } from '../config.ts';
import { openReadyStore, startService } from '../service.ts';
import { SqliteInUseError } from '../store/sqlite-lock.ts';
import { runAccountsCommand } from './accounts-command.ts';
import { parseOrThrow, UsageError } from './args.ts';
import { runCheckCommand } from './check-command.ts';
import { runClientCommand } from './client-command.ts';
import { runDoctorCommand } from './doctor-command.ts';
import { runInboundCommand } from './inbound-command.ts';
import { createLogger } from './logger.ts';
import { runMessagesCommand } from './messages-command.ts';
import { runDataSubjectCommand, runReportCommand } from './privacy-command.ts';
import { runQueueCommand } from './queue-command.ts';
import { runSuppressionsCommand } from './suppressions-command.ts';
import { asksForHelp, type CommandName, commandHelp, isCommand, overview } from './usage.ts';

type Env = Readonly<Record<string, string | undefined>>;

export async function runCli(argv: string[], env: Env): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    // `securemail help check` is `securemail check --help`.
    const topic = rest[0];
    if (command === 'help' && topic !== undefined && isCommand(topic)) {
      console.log(commandHelp(topic));
      return 0;
    }
    console.log(overview());
    return command === undefined ? 2 : 0;
  }
  if (!isCommand(command)) {
    console.error(`securemail: unknown command "${command}"\n\n${overview()}`);
    return 2;
  }
  // Help before anything is read or checked: a bad setting must not hide it.
  if (asksForHelp(rest)) {
    console.log(commandHelp(command));
    return 0;
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
  const fd = command === 'serve' ? 1 : 2;
  const logger = createLogger({
    level: config.logLevel,
    format: config.logFormat,
    fd,
    colour: (fd === 1 ? process.stdout : process.stderr).isTTY === true && !noColor(env),
  });
  try {
    return await run(command, rest, { config, logger, env });
  } catch (error) {
    if (error instanceof UsageError) {
      // A usage line says how already; other mistakes point to the command's help.
      const hint = error.message.startsWith('usage:') ? '' : `\n(securemail ${command} --help)`;
      console.error(`securemail: ${error.message}${hint}`);
      return 2;
    }
    if (error instanceof SqliteInUseError) {
      // An operator's mistake with its remedy in the message: a stack trace would hide it.
      logger.fatal({ lockFile: error.lockFile }, error.message);
      return 1;
    }
    logger.fatal({ err: error }, error instanceof Error ? error.message : 'failed');
    return 1;
  }
}

async function run(
  command: CommandName,
  args: string[],
  { config, logger, env }: { config: Config; logger: Logger; env: Env },
): Promise<number> {
  switch (command) {
    case 'serve':
      return serve(args, config, logger);
    case 'migrate': {
      parseOrThrow(args, {});
      const { store } = await openReadyStore(config, logger);
      await store.close();
      console.log(`database is up to date (${store.description})`);
      return 0;
    }
    case 'doctor':
      return runDoctorCommand(args, config, {
        colour: process.stdout.isTTY === true && !noColor(env),
      });
    case 'client':
      return runClientCommand(args, config, logger);
    case 'accounts':
      return runAccountsCommand(args, config, logger);
    case 'messages':
      return runMessagesCommand(args, config, logger);
    case 'queue':
      return runQueueCommand(args, config, logger);
    case 'suppressions':
      return runSuppressionsCommand(args, config, logger);
    case 'check':
      return runCheckCommand(args, config, env);
    case 'inbound':
      return runInboundCommand(args, config, logger);
    case 'data-subject':
      return runDataSubjectCommand(args, config, logger);
    case 'report':
      return runReportCommand(args, config, logger);
    default: {
      const never: never = command;
      throw new UsageError(`unknown command ${String(never)}`);
    }
  }
}

/** https://no-color.org: set and not empty means no colour. */
function noColor(env: Env): boolean {
  const value = env.NO_COLOR;
  return value !== undefined && value !== '';
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
