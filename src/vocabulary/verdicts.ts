// Verdicts: what the security engine decided for a recipient domain, and what one attempt
// ended with. Attempts are stored with one of these and shown in GET /message/{id} and the
// evidence export, so the words are fixed here rather than typed `string`.

/** The security engine's decision for a recipient domain. */
export type Verdict = 'deliver' | 'refuse' | 'defer';

/**
 * How one attempt ended: the domain's verdict when nothing was sent, or what the remote
 * server (or our side, before sending) made of the message: `bounce` a permanent SMTP error,
 * `fail` a recipient we could not send (message unavailable, address not writable).
 */
export type AttemptVerdict = Verdict | 'bounce' | 'fail';

export const ATTEMPT_VERDICTS = [
  'deliver',
  'refuse',
  'defer',
  'bounce',
  'fail',
] as const satisfies readonly AttemptVerdict[];
