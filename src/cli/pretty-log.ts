// SECUREMAIL_LOG_FORMAT=pretty: pino's JSON lines turned into one line per event for a person
// at a terminal: time, level, message, then the event's own fields as key=value. Our own
// ~80 lines rather than pino-pretty: that package brings thirteen dependencies and a worker
// thread for what is a string transformation, and JSON (the default) stays what machines read.

/** What pino writes to: one JSON document per call, ending in a newline. */
export interface LineSink {
  write(text: string): unknown;
}

const LEVELS: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

// ANSI colours per level, used only on a terminal (and not with NO_COLOR).
const COLOURS: Readonly<Record<number, string>> = { 20: '90', 40: '33', 50: '31', 60: '31;1' };

/** Fields every line of ours carries, or that the line already shows in front. */
const SHOWN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service']);

/** Wraps `out` so that each pino line written to it arrives pretty-printed. */
export function prettySink(out: LineSink, options: { colour: boolean }): LineSink {
  return {
    write(text: string) {
      // pino writes whole lines; a chunk with several is split so each gets its own line.
      const lines = text.split('\n').filter((line) => line !== '');
      return out.write(lines.map((line) => `${prettyLine(line, options.colour)}\n`).join(''));
    },
  };
}

/** One pino JSON line as `time LEVEL message key=value ...`; anything else passes unchanged. */
export function prettyLine(line: string, colour = false): string {
  let event: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return line;
    event = parsed as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = typeof event.level === 'number' ? event.level : 30;
  const time = typeof event.time === 'number' ? new Date(event.time).toISOString() : '-';
  const label = (LEVELS[level] ?? `L${level}`).padEnd(5);
  const shownLabel =
    colour && COLOURS[level] ? `\u001b[${COLOURS[level]}m${label}\u001b[0m` : label;
  const parts = [time, shownLabel, typeof event.msg === 'string' ? event.msg : ''];
  let stack: string | undefined;
  for (const [key, value] of Object.entries(event)) {
    if (SHOWN.has(key) || value === undefined) continue;
    if (key === 'err' && isError(value)) {
      parts.push(`err=${quote(`${value.type ?? 'Error'}: ${value.message ?? ''}`)}`);
      // Where it failed matters for errors; the stack follows on indented lines.
      if (level >= 50 && typeof value.stack === 'string') stack = value.stack;
      continue;
    }
    parts.push(`${key}=${typeof value === 'string' ? quote(value) : JSON.stringify(value)}`);
  }
  const head = parts.filter((p) => p !== '').join(' ');
  if (stack === undefined) return head;
  const frames = stack.split('\n').filter((l) => /^\s+at /.test(l));
  return [head, ...frames.map((f) => `    ${f.trim()}`)].join('\n');
}

function isError(value: unknown): value is { type?: string; message?: string; stack?: string } {
  return value !== null && typeof value === 'object' && 'message' in value;
}

/** Bare when it is one plain word, JSON-quoted otherwise (spaces, quotes, newlines, empty). */
function quote(text: string): string {
  return /^[\w.:/@+-]+$/.test(text) ? text : JSON.stringify(text);
}
