// The one logger of a `securemail` process: pino at SECUREMAIL_LOG_LEVEL, JSON by default,
// or one readable line per event with SECUREMAIL_LOG_FORMAT=pretty. The service logs to
// stdout; one-shot commands log to stderr, so that their own output (`client create --json`)
// stays machine-readable.

import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogFormat, LogLevel } from '../service-settings.ts';
import { prettySink } from './pretty-log.ts';

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** 1 (stdout) or 2 (stderr). */
  fd: 1 | 2;
  /** Colour the level in pretty lines: the output is a terminal and NO_COLOR is not set. */
  colour: boolean;
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = pino.destination(options.fd);
  const stream: DestinationStream =
    options.format === 'pretty'
      ? (prettySink(destination, { colour: options.colour }) as DestinationStream)
      : destination;
  return pino({ level: options.level, base: { service: 'securemail' } }, stream);
}
