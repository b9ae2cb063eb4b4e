// The framing shared by the test SMTP server and the benchmark sink: exact BDAT octet
// counts and DATA terminators however TCP splits the stream, since both servers' tests
// and the benchmark's counts rest on it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dotUnstuff, SmtpInput } from './smtp-input.ts';

type Event =
  | { kind: 'command'; line: string }
  | { kind: 'data'; content: string }
  | { kind: 'chunk'; line: string; size: number; last: boolean; content: string };

/** Frames `stream` delivered in reads of the given sizes (cycled), DATA started after `DATA`. */
function frame(stream: Buffer, sizes: number[], chunking = true): Event[] {
  const events: Event[] = [];
  const input: SmtpInput = new SmtpInput(
    {
      command(line) {
        events.push({ kind: 'command', line });
        if (line === 'DATA') input.startData();
      },
      data(content) {
        events.push({ kind: 'data', content: content.toString('latin1') });
      },
      chunk(line, size, last, content) {
        events.push({ kind: 'chunk', line, size, last, content: content.toString('latin1') });
      },
    },
    { chunking },
  );
  for (let at = 0, i = 0; at < stream.length; i++) {
    const size = sizes[i % sizes.length]!;
    input.push(stream.subarray(at, at + size));
    at += size;
  }
  return events;
}

// A chunk that looks like commands and a DATA terminator, with CR, LF and NUL on their own.
const tricky = 'BDAT 5 LAST\r\n.\r\nQUIT\r\n\0\r\n.';
const STREAM = Buffer.from(
  'MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n' +
    `BDAT ${tricky.length}\r\n${tricky}BDAT 3 LAST\r\nx\ny` +
    'MAIL FROM:<a@b.test>\r\nBDAT 0 LAST\r\n' +
    'DATA\r\n..dot\r\nline\r\n.\r\n' +
    'DATA\r\n.\r\n' +
    'NOOP\r\n',
  'latin1',
);
const EXPECTED: Event[] = [
  { kind: 'command', line: 'MAIL FROM:<a@b.test>' },
  { kind: 'command', line: 'RCPT TO:<c@d.test>' },
  {
    kind: 'chunk',
    line: `BDAT ${tricky.length}`,
    size: tricky.length,
    last: false,
    content: tricky,
  },
  { kind: 'chunk', line: 'BDAT 3 LAST', size: 3, last: true, content: 'x\ny' },
  { kind: 'command', line: 'MAIL FROM:<a@b.test>' },
  { kind: 'chunk', line: 'BDAT 0 LAST', size: 0, last: true, content: '' },
  { kind: 'command', line: 'DATA' },
  { kind: 'data', content: '..dot\r\nline\r\n' },
  { kind: 'command', line: 'DATA' },
  { kind: 'data', content: '' },
  { kind: 'command', line: 'NOOP' },
];

test('the same events however the stream is split into reads', () => {
  for (const sizes of [[STREAM.length], [1], [2], [3], [4], [5], [7], [1, 13, 2], [64]]) {
    assert.deepEqual(frame(STREAM, sizes), EXPECTED, `reads of ${sizes.join(',')} bytes`);
  }
});

test('a DATA terminator split across reads at every position', () => {
  const stream = Buffer.from('DATA\r\nab\r\n.\r\nNOOP\r\n');
  for (let cut = 1; cut < stream.length; cut++) {
    const events: Event[] = [];
    const input: SmtpInput = new SmtpInput(
      {
        command(line) {
          events.push({ kind: 'command', line });
          if (line === 'DATA') input.startData();
        },
        data(content) {
          events.push({ kind: 'data', content: content.toString() });
        },
        chunk() {
          assert.fail('no chunk');
        },
      },
      { chunking: true },
    );
    input.push(stream.subarray(0, cut));
    input.push(stream.subarray(cut));
    assert.deepEqual(
      events,
      [
        { kind: 'command', line: 'DATA' },
        { kind: 'data', content: 'ab\r\n' },
        { kind: 'command', line: 'NOOP' },
      ],
      `cut at ${cut}`,
    );
  }
});

test('without keeping contents, DATA still reports its octets, wherever the reads split it', () => {
  const stream = Buffer.from('DATA\r\n..x\r\n.\r\nDATA\r\n.\r\n');
  for (let cut = 1; cut < stream.length; cut++) {
    const seen: Array<[number, number]> = [];
    const input: SmtpInput = new SmtpInput(
      {
        command(line) {
          if (line === 'DATA') input.startData();
        },
        data(content, octets) {
          seen.push([content.length, octets]);
        },
        chunk() {},
      },
      { chunking: true, keepContent: false },
    );
    input.push(stream.subarray(0, cut));
    input.push(stream.subarray(cut));
    assert.deepEqual(
      seen,
      [
        [0, '..x\r\n'.length],
        [0, 0],
      ],
      `cut at ${cut}`,
    );
  }
});

test('without chunking, and for a malformed BDAT, the line is a command and no octets are taken', () => {
  assert.deepEqual(frame(Buffer.from('BDAT 2 LAST\r\nok\r\n'), [100], false), [
    { kind: 'command', line: 'BDAT 2 LAST' },
    { kind: 'command', line: 'ok' },
  ]);
  for (const line of ['BDAT', 'BDAT x', 'BDAT 2 FIRST', 'BDAT -1', 'BDAT 1234567890123456']) {
    assert.deepEqual(frame(Buffer.from(`${line}\r\nok\r\n`), [100]), [
      { kind: 'command', line },
      { kind: 'command', line: 'ok' },
    ]);
  }
  // RFC 3030: the end marker is case-insensitive like the verb.
  assert.deepEqual(frame(Buffer.from('bdat 2 last\r\nok'), [100]), [
    { kind: 'chunk', line: 'bdat 2 last', size: 2, last: true, content: 'ok' },
  ]);
});

test('stop() discards the rest of the read (STARTTLS)', () => {
  const events: string[] = [];
  const input: SmtpInput = new SmtpInput(
    {
      command(line) {
        events.push(line);
        if (line === 'STARTTLS') input.stop();
      },
      data() {},
      chunk() {},
    },
    { chunking: true },
  );
  input.push(Buffer.from('EHLO x\r\nSTARTTLS\r\nMAIL FROM:<injected@x>\r\n'));
  input.push(Buffer.from('RCPT TO:<y@z>\r\n'));
  assert.deepEqual(events, ['EHLO x', 'STARTTLS']);
});

test('dotUnstuff removes one leading dot per line and nothing else', () => {
  assert.equal(
    dotUnstuff(Buffer.from('..a\r\n.\r\nb.c\r\n...\r\n')).toString(),
    '.a\r\n\r\nb.c\r\n..\r\n',
  );
  const plain = Buffer.from('no dots at line starts\r\n');
  assert.equal(dotUnstuff(plain), plain);
});
