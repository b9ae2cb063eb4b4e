// The one setting of the web console (SECUREMAIL_CONSOLE), read by the main configuration
// like the other parts' settings, so the console can be switched off where only the API
// should be reachable (a machine-to-machine deployment, a hardened API host).

import { ConfigError, type Env, envReader } from '../config-values.ts';

export interface ConsoleConfig {
  /** Serve the console under /console (and redirect / there). */
  enabled: boolean;
}

const ON = ['on', 'true', '1', 'yes'];
const OFF = ['off', 'false', '0', 'no'];

export function loadConsoleConfig(env: Env): ConsoleConfig {
  const text = envReader(env)('SECUREMAIL_CONSOLE');
  if (text === undefined) return { enabled: true };
  const lower = text.toLowerCase();
  if (ON.includes(lower)) return { enabled: true };
  if (OFF.includes(lower)) return { enabled: false };
  throw new ConfigError('SECUREMAIL_CONSOLE', `must be on or off, got "${text}"`);
}
