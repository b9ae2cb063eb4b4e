// How one environment value is read and checked, shared by every part of the
// configuration, so a bad value is reported the same way wherever it is read.

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/** A reader that treats unset and blank alike, and trims. */
export function envReader(env: Env): (name: string) => string | undefined {
  return (name) => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
}

export function integerValue(
  name: string,
  text: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new ConfigError(name, `must be a whole number, got "${text}"`);
  const value = Number(text);
  if (value < min || value > max) {
    throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

export function booleanValue(name: string, text: string | undefined): boolean {
  const lower = text?.toLowerCase();
  if (lower === undefined || lower === 'false' || lower === '0' || lower === 'no') return false;
  if (lower === 'true' || lower === '1' || lower === 'yes') return true;
  throw new ConfigError(name, `must be true or false, got "${text}"`);
}
