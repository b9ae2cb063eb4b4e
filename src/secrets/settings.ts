// The master key setting: 32 bytes that seal DKIM keys, webhook secrets, message bodies and
// subjects, account notices and what the bounce MX keeps (src/secrets/master-key.ts).

import { ConfigError, custom } from '../settings.ts';

export const SECRETS_SETTINGS = {
  masterKey: custom('SECUREMAIL_MASTER_KEY', {
    doc: '32 bytes as base64 or 64 hex digits',
    shownDefault: 'generated',
    parse: (text) => {
      if (text !== undefined) parseMasterKey(text, 'SECUREMAIL_MASTER_KEY');
      return text;
    },
  }),
};

export interface SecretsSettings {
  /** Base64 or hex of 32 bytes; undefined means: use (or create) `<dataDir>/master.key`. */
  masterKey: string | undefined;
}

/** Decodes a 32-byte key given as 64 hex digits or base64/base64url. */
export function parseMasterKey(text: string, variable: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) {
    throw new ConfigError(
      variable,
      'must be 32 random bytes, as 64 hex digits or base64 (openssl rand -base64 32)',
    );
  }
  return key;
}
