// The schema of the structured alternative to raw MIME on POST /message (composed by
// src/messages/compose.ts), kept apart from the route so the OpenAPI document describes
// both ways of sending from one place each.

import { Type } from 'typebox';

/** Attachments per message; their size counts toward SECUREMAIL_MAX_MESSAGE_BYTES. */
export const MAX_ATTACHMENTS = 50;
const MAX_HEADERS = 50;

const AttachmentSchema = Type.Object(
  {
    filename: Type.String({ minLength: 1, maxLength: 255 }),
    content_base64: Type.String({ description: 'The file, base64-encoded.' }),
    content_type: Type.Optional(
      Type.String({
        maxLength: 255,
        description: 'e.g. application/pdf; default: from the file name.',
      }),
    ),
  },
  { additionalProperties: false },
);

/** Properties added to the POST /message body next to `message` and `message_base64`. */
export const structuredMessageFields = {
  subject: Type.Optional(
    Type.String({
      maxLength: 998,
      description: 'Structured alternative to `message`: the Subject. Needs `text` too.',
    }),
  ),
  text: Type.Optional(
    Type.String({ description: 'Structured alternative to `message`: the plain-text body.' }),
  ),
  html: Type.Optional(
    Type.String({ description: 'An HTML body besides `text` (multipart/alternative).' }),
  ),
  attachments: Type.Optional(Type.Array(AttachmentSchema, { maxItems: MAX_ATTACHMENTS })),
  headers: Type.Optional(
    Type.Record(Type.String({ maxLength: 100 }), Type.String({ maxLength: 998 }), {
      maxProperties: MAX_HEADERS,
      description:
        'Extra header fields, e.g. To, Cc, Reply-To, Message-ID, Date, Require-TLS. From defaults to ' +
        "the sender (a From in the sender's domain may be given, with a display name), To to the one " +
        'recipient or "undisclosed-recipients:;". Date and Message-ID are generated when absent. Subject, ' +
        'Bcc and the Content-/MIME- fields are written by the composer.',
    }),
  ),
};
