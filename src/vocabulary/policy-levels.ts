// What an account demands of a recipient's mail server, and how a server proved itself. The
// one list of levels: the API schemas, the CLI, account changes, the store's row type and the
// security engine all take it from here, so a new level cannot be known to some of them only.

/** What an account accepts as authentication of the recipient's server. */
export type PolicyLevel = 'dane-only' | 'authenticated' | 'verified';

export const POLICY_LEVELS = [
  'dane-only',
  'authenticated',
  'verified',
] as const satisfies readonly PolicyLevel[];

/** How a server was (or must be) authenticated. */
export type AuthMethod = 'dane' | 'mta-sts' | 'pkix';

export function isPolicyLevel(text: string): text is PolicyLevel {
  return (POLICY_LEVELS as readonly string[]).includes(text);
}
