// Logs as an operator reads them: SECUREMAIL_LOG_FORMAT=pretty gives one line per event
// (time, level, message, fields), JSON stays the default, and health probes and scrapes are
// not logged while they succeed. `serve` and `migrate` run as real processes.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { prettyLine } from '../../src/cli/pretty-log.ts';
import { cli, MAIN } from './run.ts';

const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) /;

describe('pretty log lines', () => {
  test('time, level, message, then the fields as key=value', () => {
    const line = prettyLine(
      JSON.stringify({
        level: 40,
        time: Date.UTC(2026, 10, 28, 12),
        pid: 1,
        hostname: 'h',
        service: 'securemail',
        msg: 'DNS: resolver probe failed',
        server: '127.0.0.1:53',
        note: 'two words',
        count: 3,
        resolvers: ['a', 'b'],
      }),
    );
    assert.equal(
      line,
      '2026-11-28T12:00:00.000Z WARN  DNS: resolver probe failed server=127.0.0.1:53 note="two words" count=3 resolvers=["a","b"]',
    );
  });

  test('errors: type and message inline; the stack below only for error and fatal', () => {
    const err = { type: 'Error', message: 'boom', stack: 'Error: boom\n    at run (x.ts:1:1)' };
    const warn = prettyLine(JSON.stringify({ level: 40, time: 0, msg: 'retry', err }));
    assert.equal(warn, '1970-01-01T00:00:00.000Z WARN  retry err="Error: boom"');
    const error = prettyLine(JSON.stringify({ level: 50, time: 0, msg: 'failed', err }));
    assert.equal(
      error,
      '1970-01-01T00:00:00.000Z ERROR failed err="Error: boom"\n    at run (x.ts:1:1)',
    );
    assert.equal(
      prettyLine(JSON.stringify({ level: 30, time: 0, msg: 'x' }), true),
      '1970-01-01T00:00:00.000Z INFO  x',
      'info is not coloured',
    );
    const ESC = String.fromCharCode(0x1b);
    assert.ok(
      prettyLine(JSON.stringify({ level: 50, time: 0, msg: 'x' }), true).includes(
        `${ESC}[31mERROR`,
      ),
    );
    assert.equal(prettyLine('not json'), 'not json');
  });
});

describe('logging of securemail processes', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'securemail-logs-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('migrate with SECUREMAIL_LOG_FORMAT=pretty: readable warnings on stderr', async () => {
    const result = await cli(['migrate'], {
      SECUREMAIL_DATA_DIR: dir,
      SECUREMAIL_LOG_FORMAT: 'pretty',
    });
    assert.equal(result.code, 0, result.stderr);
    const [first] = result.stderr.trim().split('\n');
    assert.match(first!, LINE);
    assert.match(first!, / WARN {2}SECUREMAIL_MASTER_KEY is not set: .* file=\S+master\.key$/);
    assert.match(result.stdout, /up to date/, 'the command output itself is unchanged');
    const bad = await cli(['migrate'], { SECUREMAIL_DATA_DIR: dir, SECUREMAIL_LOG_FORMAT: 'xml' });
    assert.equal(bad.code, 78);
    assert.match(bad.stderr, /SECUREMAIL_LOG_FORMAT: must be one of json, pretty, got "xml"/);
  });

  for (const format of ['pretty', 'json'] as const) {
    test(`serve (${format}): probes and scrapes are not logged, other requests are`, async () => {
      const child: ChildProcess = spawn(process.execPath, [MAIN, 'serve', '--roles', 'api'], {
        env: {
          PATH: process.env.PATH ?? '',
          SECUREMAIL_DATA_DIR: dir,
          SECUREMAIL_HTTP_PORT: '0',
          SECUREMAIL_LOG_LEVEL: 'info',
          SECUREMAIL_LOG_FORMAT: format,
          SECUREMAIL_DNS_SERVERS: '127.0.0.1:9',
          SECUREMAIL_DNS_TIMEOUT_MS: '100',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
      });
      try {
        const url = await new Promise<string>((resolve, reject) => {
          const look = () => {
            const match =
              format === 'pretty'
                ? /API listening url=(http:\/\/\S+) docs=/.exec(out)
                : /"url":"(http:\/\/[^"]+)","docs"/.exec(out);
            if (match) resolve(match[1]!);
          };
          child.stdout?.on('data', look);
          child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
        });
        for (let i = 0; i < 3; i++) {
          for (const probe of ['/healthz', '/readyz', '/metrics'])
            assert.equal((await fetch(`${url}${probe}`)).status, 200);
        }
        assert.equal((await fetch(`${url}/reasons`)).status, 401);
        // The 401 is logged; wait for its line.
        for (let i = 0; i < 100 && !out.includes('/reasons'); i++)
          await new Promise((resolve) => setTimeout(resolve, 20));
        assert.ok(out.includes('/reasons'), 'other requests are still logged');
        assert.doesNotMatch(out, /healthz|readyz|\/metrics/);
        const lines = out.trim().split('\n');
        if (format === 'pretty') {
          for (const line of lines) assert.match(line, LINE, line);
          assert.ok(lines.some((l) => / INFO {2}API listening url=http:\/\//.test(l)));
        } else {
          for (const line of lines) assert.equal(typeof JSON.parse(line).level, 'number', line);
        }
      } finally {
        child.kill('SIGTERM');
        if (child.exitCode === null) await once(child, 'exit');
      }
    });
  }
});
