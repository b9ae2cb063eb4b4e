// GET /reasons: every reason code a recipient or an attempt can carry, in plain words with
// what the recipient's mail administrator could change. The console shows these beside a
// refused recipient; API users can show them too instead of keeping a copy of the table.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { REASONS, type ReasonInfo } from '../../vocabulary/reasons.ts';
import { errorResponses } from '../schemas.ts';

/** Recipient outcomes decided outside the security engine; the rest are in REASONS. */
export const OTHER_REASONS: Readonly<Record<string, ReasonInfo>> = {
  suppressed: {
    class: 'refuse',
    explanation:
      'The address is on the suppression list of the sending domain (an earlier hard bounce, or added by hand), so nothing was sent.',
    fix: 'Remove the address from the suppression list if it works again.',
  },
  'message-unavailable': {
    class: 'refuse',
    explanation:
      'The message could not be prepared for sending, for example because its content was already deleted after the retention period.',
    fix: 'Send the message again.',
  },
  'erasure-requested': {
    class: 'refuse',
    explanation:
      "The sender had this recipient's data erased (a data subject's request) before the message was sent, so it was not sent.",
    fix: 'Nothing: the sender asked for this.',
  },
};

export function allReasons(): Record<string, ReasonInfo> {
  return { ...REASONS, ...OTHER_REASONS };
}

const ReasonSchema = Type.Object({
  class: Type.Union([Type.Literal('refuse'), Type.Literal('defer')], {
    description: 'refuse: final for that server; defer: may clear up on a later attempt.',
  }),
  explanation: Type.String({ description: 'What happened, in plain language.' }),
  fix: Type.String({ description: "What the recipient domain's administrator could change." }),
});

export function registerReasonRoutes(app: FastifyInstance): void {
  const body = { reasons: allReasons() };
  app.get(
    '/reasons',
    {
      schema: {
        tags: ['Security'],
        summary: 'Every reason code, explained',
        description:
          'The `reason` of a recipient, an attempt or a pre-flight check, with an explanation and a fix.',
        security: [{ oauth2: [] }],
        response: {
          200: Type.Object({ reasons: Type.Record(Type.String(), ReasonSchema) }),
          ...errorResponses(401, 429),
        },
      },
    },
    async () => body,
  );
}
