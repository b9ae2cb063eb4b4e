// Argument parsing shared by the CLI commands.

import { parseArgs } from 'node:util';

/** A mistake in how the command was called: printed without a stack trace, exit code 2. */
export class UsageError extends Error {}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

export function parseOrThrow<O extends Options>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * `COMMAND SUB [options]`: the options parse strictly, then the subcommand must be one of
 * `subs` (in that order, so a bad option is reported before a missing subcommand).
 */
export function parseSubcommand<S extends string, O extends Options>(
  command: string,
  args: string[],
  subs: readonly S[],
  options: O,
) {
  const [sub, ...rest] = args;
  const parsed = parseOrThrow(rest, options);
  if (!subs.includes(sub as S)) throw new UsageError(`${command} needs one of: ${subs.join(', ')}`);
  return { sub: sub as S, ...parsed };
}

/** An option that takes one of a fixed list of words; undefined when it is not given. */
export function oneOf<T extends string>(
  option: string,
  value: string | undefined,
  allowed: readonly T[],
): T | undefined {
  if (value !== undefined && !allowed.includes(value as T))
    throw new UsageError(`--${option} must be one of ${allowed.join(', ')}`);
  return value as T | undefined;
}
