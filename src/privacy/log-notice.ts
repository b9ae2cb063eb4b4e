// What the logs may hold (docs/privacy.md): at `info` and above, ids instead of recipient
// addresses and subjects; at `debug` and `trace` anything may appear, and the service says so
// once at start-up, so nobody turns debug on without knowing the logs then hold personal data.

/** The start-up warning for a log level that may write personal data, or undefined. */
export function personalDataLogWarning(level: string): string | undefined {
  if (level !== 'debug' && level !== 'trace') return undefined;
  return (
    `SECUREMAIL_LOG_LEVEL is ${level}: log lines may contain recipient addresses and message ` +
    'subjects (personal data). Keep such logs no longer than you need them; at info and above ' +
    'the service logs ids instead.'
  );
}
