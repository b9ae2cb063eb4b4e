// `securemail doctor [--json]`: one line per finding, with what to do (src/doctor). Exit 0
// when nothing failed (warnings allowed), 1 when something did, as `check` answers 0 or 1.

import type { Config } from '../config.ts';
import { doctorExitCode, type Finding, runDoctor } from '../doctor/doctor.ts';
import { parseOrThrow } from './args.ts';
import { noPositionals, printJson } from './output.ts';

const LABELS: Readonly<Record<Finding['status'], string>> = {
  ok: 'ok',
  info: 'info',
  warn: 'WARN',
  fail: 'FAIL',
};
const COLOURS: Readonly<Record<Finding['status'], string | undefined>> = {
  ok: '32',
  info: undefined,
  warn: '33',
  fail: '31;1',
};

export interface DoctorOutput {
  /** Colour the status words (a terminal, and NO_COLOR not set). */
  colour: boolean;
}

export async function runDoctorCommand(
  args: string[],
  config: Config,
  output: DoctorOutput = { colour: false },
): Promise<number> {
  const { values, positionals } = parseOrThrow(args, { json: { type: 'boolean' } });
  noPositionals(positionals, 'doctor [--json]');
  const findings = await runDoctor(config);
  const code = doctorExitCode(findings);
  if (values.json === true) {
    printJson({
      status: code === 0 ? (findings.some((f) => f.status === 'warn') ? 'warn' : 'ok') : 'fail',
      findings: findings.map((f) => ({
        check: f.check,
        status: f.status,
        message: f.message,
        fix: f.fix ?? null,
      })),
    });
    return code;
  }
  const width = Math.max(...findings.map((f) => f.check.length));
  for (const f of findings) {
    const label = LABELS[f.status].padEnd(4);
    const colour = COLOURS[f.status];
    const shown = output.colour && colour ? `\u001b[${colour}m${label}\u001b[0m` : label;
    console.log(
      `${shown}  ${f.check.padEnd(width)}  ${f.message}${f.fix ? `; fix: ${f.fix}` : ''}`,
    );
  }
  const count = (status: Finding['status']) => findings.filter((f) => f.status === status).length;
  console.log(
    `\n${count('fail')} failed, ${count('warn')} warning(s), ${count('ok')} ok${code === 0 ? '' : ' (exit 1)'}`,
  );
  return code;
}
