// How a module declares its settings: each one once, with its environment variable, its
// documentation line, its default and how its text becomes a value. A module's settings.ts
// holds its declarations and reads them; src/config.ts only composes the modules' settings
// into the frozen Config; test/docs.test.ts checks the settings tables of the README and
// docs/ against the declarations. A bad value is reported the same way wherever it is
// declared: a ConfigError that names the variable (the CLI exits 78 with its message).

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/** What a setting's parser may know besides its own text. */
export interface SettingContext {
  /** The directory relative paths are resolved against. */
  cwd: string;
  /** The platform's host name (SECUREMAIL_HOSTNAME), once it is read. */
  hostname: string;
  /** The values of the same declaration group read so far (declaration order). */
  earlier: Readonly<Record<string, unknown>>;
}

/** One setting. Make them with integer(), oneOf(), text(), flag() or custom(). */
export interface Setting<T> {
  readonly kind: 'setting';
  readonly variable: string;
  /** What it is for, in one line; the variable's row in a settings table begins with it. */
  readonly doc: string;
  /** The default as the settings tables show it (`600`, `minute`, unset, ...). */
  readonly shownDefault: string;
  /** The value for the variable's text (undefined: unset or blank); throws ConfigError. */
  readonly parse: (text: string | undefined, context: SettingContext) => T;
}

/** A module's declarations: settings, or groups of them (a nested object in the Config). */
export interface Declarations {
  readonly [key: string]: Setting<unknown> | Declarations;
}

/** The values a group of declarations reads to, with the same keys. */
export type SettingValues<D extends Declarations> = {
  -readonly [K in keyof D]: D[K] extends Setting<infer T>
    ? T
    : D[K] extends Declarations
      ? SettingValues<D[K]>
      : never;
};

const code = (value: string | number | boolean) => `\`${value}\``;

export function integer(
  variable: string,
  options: {
    default: number;
    min: number;
    /** A number, or one that depends on a value declared before it in the same group. */
    max: number | ((earlier: Readonly<Record<string, unknown>>) => number);
    doc: string;
  },
): Setting<number> {
  return {
    kind: 'setting',
    variable,
    doc: options.doc,
    shownDefault: code(options.default),
    parse: (text, context) =>
      integerValue(
        variable,
        text,
        options.default,
        options.min,
        typeof options.max === 'number' ? options.max : options.max(context.earlier),
      ),
  };
}

export function oneOf<T extends string>(
  variable: string,
  allowed: readonly T[],
  options: { default: T; doc: string },
): Setting<T> {
  return {
    kind: 'setting',
    variable,
    doc: options.doc,
    shownDefault: code(options.default),
    parse: (text) => {
      if (text === undefined) return options.default;
      const found = allowed.find((a) => a === text.toLowerCase());
      if (found === undefined)
        throw new ConfigError(variable, `must be one of ${allowed.join(', ')}, got "${text}"`);
      return found;
    },
  };
}

/** Text taken as given (trimmed), or the default. */
export function text(
  variable: string,
  options: { default: string; doc: string; shownDefault?: string },
): Setting<string>;
/** Text taken as given (trimmed), or undefined when unset. */
export function text(
  variable: string,
  options: { doc: string; shownDefault: string },
): Setting<string | undefined>;
export function text(
  variable: string,
  options: { default?: string; doc: string; shownDefault?: string },
): Setting<string | undefined> {
  return {
    kind: 'setting',
    variable,
    doc: options.doc,
    shownDefault:
      options.shownDefault ?? (options.default === undefined ? 'unset' : code(options.default)),
    parse: (value) => value ?? options.default,
  };
}

/** true/1/yes or false/0/no; unset is false. */
export function flag(variable: string, options: { doc: string }): Setting<boolean> {
  return {
    kind: 'setting',
    variable,
    doc: options.doc,
    shownDefault: code(false),
    parse: (value) => booleanValue(variable, value),
  };
}

/** Any other setting: its parser gets the text (undefined when unset) and the context. */
export function custom<T>(
  variable: string,
  options: {
    doc: string;
    shownDefault: string;
    parse: (text: string | undefined, context: SettingContext) => T;
  },
): Setting<T> {
  return { kind: 'setting', variable, ...options };
}

/** The same setting with its value converted (e.g. seconds to milliseconds). */
export function map<T, U>(setting: Setting<T>, convert: (value: T) => U): Setting<U> {
  return { ...setting, parse: (value, context) => convert(setting.parse(value, context)) };
}

/**
 * Reads every declaration of a group from the environment, in declaration order; the first
 * bad value throws.
 */
export function readSettings<D extends Declarations>(
  declarations: D,
  env: Env,
  context: Omit<SettingContext, 'earlier'>,
): SettingValues<D> {
  const values: Record<string, unknown> = {};
  for (const [key, declaration] of Object.entries(declarations)) {
    values[key] = isSetting(declaration)
      ? declaration.parse(envText(env, declaration.variable), { ...context, earlier: values })
      : readSettings(declaration, env, context);
  }
  return values as SettingValues<D>;
}

/** Every setting of a group, nested ones included, in declaration order. */
export function settingsOf(declarations: Declarations): Setting<unknown>[] {
  return Object.values(declarations).flatMap((d) => (isSetting(d) ? [d] : settingsOf(d)));
}

function isSetting(value: Setting<unknown> | Declarations): value is Setting<unknown> {
  return value.kind === 'setting';
}

/** Unset and blank alike are undefined; values are trimmed. */
function envText(env: Env, variable: string): string | undefined {
  const value = env[variable];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
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

/** A host name, lower-cased and without a trailing dot. */
export function hostName(name: string, text: string): string {
  const host = text.toLowerCase().replace(/\.$/, '');
  const label = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
  if (host.length > 253 || !host.split('.').every((l) => label.test(l))) {
    throw new ConfigError(name, `"${text}" is not a valid host name`);
  }
  return host;
}

/** A comma-separated list, each entry trimmed, empty entries dropped. */
export function listEntries(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
