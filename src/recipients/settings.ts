// Retention's settings: how long a message body is kept after its last recipient became
// final, and how long the evidence (and with it the message and its recipients).

import { integer, map } from '../settings.ts';

const DAY_MS = 24 * 3_600_000;

export const RETENTION_SETTINGS = {
  bodyRetentionMs: map(
    integer('SECUREMAIL_BODY_RETENTION_DAYS', {
      default: 7,
      min: 0,
      max: 3650,
      doc: 'Days a body is kept after completion',
    }),
    (days) => DAY_MS * days,
  ),
  evidenceRetentionMs: map(
    integer('SECUREMAIL_EVIDENCE_RETENTION_DAYS', {
      default: 365,
      min: 1,
      max: 3650,
      doc: 'Days messages and evidence are kept after completion.',
    }),
    (days) => DAY_MS * days,
  ),
};

export interface RetentionSettings {
  /** Message bodies are deleted this long after their last recipient became final. */
  bodyRetentionMs: number;
  /** Attempts and their evidence are kept this long. */
  evidenceRetentionMs: number;
}
