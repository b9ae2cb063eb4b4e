// `securemail check <domain|address>...`: the pre-flight check from the command line. It
// judges recipients exactly as the delivery worker does (same options, same engine) but
// needs no database and no running service: MTA-STS policies are cached in memory for the
// one run, and nothing is written to the data directory.
//
// A check of many domains, or of one behind a slow resolver, takes a while: the text report
// prints each domain as soon as it is known ("[2/5]" in front when there are several, since
// they finish in any order), and a DNS question unanswered after WAIT_NOTICE_MS is named on
// stderr, always (stdout stays the report alone, for scripts). --json prints the whole array
// at the end, in the order the domains were named.

import { recipientDomain } from '../accounts/email-address.ts';
import { type Config, ConfigError } from '../config.ts';
import { configuredResolver } from '../dns/settings.ts';
import {
  checkRecipients,
  createMemoryStsPolicyCache,
  exitCode,
  formatJson,
  formatReport,
} from '../security/index.ts';
import { outboundOptions, readCaFile } from '../security/settings.ts';
import { POLICY_LEVELS, type PolicyLevel } from '../vocabulary/policy-levels.ts';
import { oneOf, parseOrThrow, UsageError } from './args.ts';
import { watchResolver } from './resolver-watch.ts';

/** After this long without an answer, a DNS question is named on stderr. */
export const WAIT_NOTICE_MS = 2000;

type Env = Readonly<Record<string, string | undefined>>;

export interface CheckOutput {
  /** Whether stdout is a terminal: colour is only used there. */
  isTty: boolean;
  write(text: string): void;
  /** Progress lines ("waiting for ..."), stderr by default. */
  progress?: (line: string) => void;
}

export async function runCheckCommand(
  args: string[],
  config: Config,
  env: Env,
  output: CheckOutput = {
    isTty: process.stdout.isTTY === true,
    write: (text) => process.stdout.write(text),
  },
): Promise<number> {
  const { values, positionals } = parseOrThrow(args, {
    json: { type: 'boolean' },
    policy: { type: 'string' },
  });
  if (positionals.length === 0)
    throw new UsageError(
      'usage: securemail check <domain|address>... [--json] [--policy dane-only|authenticated|verified]',
    );
  const policyLevel = parsePolicy(values.policy);
  for (const input of positionals) {
    if (!isRecipient(input))
      throw new UsageError(`"${input}" is neither an e-mail address nor a domain name`);
  }

  let extraCa: string[];
  try {
    extraCa = readCaFile(config.security.caFile);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`securemail: configuration error: ${error.message}`);
    return 78; // EX_CONFIG, as for any other bad setting
  }

  const resolver = configuredResolver(config);
  const progress = output.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const watch = watchResolver(resolver, progress, { afterMs: WAIT_NOTICE_MS });
  const json = values.json === true;
  const text = { colour: output.isTty && !noColor(env) };
  try {
    const reports = await checkRecipients(
      positionals,
      { ...outboundOptions(config, extraCa), policyLevel },
      { resolver: watch.resolver, stsCache: createMemoryStsPolicyCache() },
      (report, index, total) => {
        if (json) return;
        output.write(formatReport(report, text, total > 1 ? `[${index + 1}/${total}] ` : ''));
      },
    );
    if (json) output.write(formatJson(reports));
    return exitCode(reports);
  } catch (error) {
    // Exit code 1 means "refused"; a check that could not run is not an answer, so 2.
    console.error(`securemail: check failed: ${error instanceof Error ? error.message : error}`);
    return 2;
  } finally {
    watch.stop();
    await resolver.close();
  }
}

function parsePolicy(text: string | undefined): PolicyLevel {
  return oneOf('policy', text, POLICY_LEVELS) ?? 'verified';
}

/** The same inputs `POST /security/check` accepts: an e-mail address or a domain name. */
function isRecipient(input: string): boolean {
  return recipientDomain(input).ok;
}

/** https://no-color.org: set and not empty means no colour. */
function noColor(env: Env): boolean {
  const value = env.NO_COLOR;
  return value !== undefined && value !== '';
}
