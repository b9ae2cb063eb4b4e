// The bench's message: about 2 KB of plain text from the bench sender. Its own module, so
// the out-of-process HTTP client (client.ts) can build messages without the service code.

import { randomBytes } from 'node:crypto';

export const SENDER_DOMAIN = 'shop.nl';

/** A MIME message of about `size` bytes from the bench sender. */
export function benchMime(index: number, size = 2048): string {
  const headers = [
    `From: Shop <news@${SENDER_DOMAIN}>`,
    'To: customer@example.test',
    `Subject: Your order ${index}`,
    'Date: Sat, 28 Nov 2026 12:00:00 +0000',
    `Message-ID: <bench-${index}-${randomBytes(6).toString('hex')}@${SENDER_DOMAIN}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
  ].join('\r\n');
  const line = 'Thank you for your order. It will be shipped within two working days.\r\n';
  let body = 'Hello,\r\n\r\n';
  while (headers.length + body.length + line.length < size) body += line;
  return `${headers}\r\n\r\n${body}`;
}
