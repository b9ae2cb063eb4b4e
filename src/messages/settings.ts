// Submission's settings: how many recipients and bytes one message may have, and how many
// messages an account may submit per day.

import { integer } from '../settings.ts';

export const SENDING_SETTINGS = {
  maxRecipients: integer('SECUREMAIL_MAX_RECIPIENTS', {
    default: 10_000,
    min: 1,
    max: 1_000_000,
    doc: 'Entries in `recipients` per `POST /message`',
  }),
  maxMessageBytes: integer('SECUREMAIL_MAX_MESSAGE_BYTES', {
    default: 25 * 1024 * 1024,
    min: 1024,
    max: 200 * 1024 * 1024,
    doc: 'Largest MIME message',
  }),
  messagesPerDay: integer('SECUREMAIL_MESSAGES_PER_DAY', {
    default: 100_000,
    min: 1,
    max: 1e9,
    doc: 'Messages an account may submit per UTC day.',
  }),
};

export interface SendingConfig {
  /** Entries in `recipients` per POST /message (duplicates included; the schema's maxItems). */
  maxRecipients: number;
  /** Largest MIME message accepted. */
  maxMessageBytes: number;
  /** Messages an account may submit per UTC day. */
  messagesPerDay: number;
}
