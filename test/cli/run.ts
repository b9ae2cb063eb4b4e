// Runs `securemail` as a real process, the way an operator does, and collects what it said.

import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const MAIN = path.resolve(import.meta.dirname, '../../src/main.ts');

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Only PATH and the given variables reach the process: no setting leaks in from the test's environment. */
export async function cli(args: string[], env: Record<string, string>): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [MAIN, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
