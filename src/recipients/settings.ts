// Retention's settings: how long a message body and its subject are kept after its last
// recipient became final, and how long the evidence (and with it the message and its
// recipients). docs/privacy.md has every kind of data with its period and why.

import { integer, map } from '../settings.ts';

const DAY_MS = 24 * 3_600_000;

export const RETENTION_SETTINGS = {
  bodyRetentionMs: map(
    integer('SECUREMAIL_BODY_RETENTION_DAYS', {
      // 0: the body is only needed to (re)try delivery; it goes as the message completes.
      default: 0,
      min: 0,
      max: 3650,
      doc: 'Days a body is kept after completion',
    }),
    (days) => DAY_MS * days,
  ),
  subjectRetentionMs: map(
    integer('SECUREMAIL_SUBJECT_RETENTION_DAYS', {
      // A bounce report can come back days after delivery (remote servers retry for about
      // five), and its notification names the message by its subject.
      default: 7,
      min: 0,
      max: 3650,
      doc: 'Days a message subject is kept after completion',
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
  /** Message subjects are deleted this long after their last recipient became final. */
  subjectRetentionMs: number;
  /** Attempts and their evidence are kept this long. */
  evidenceRetentionMs: number;
}
