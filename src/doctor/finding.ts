// What `securemail doctor` reports: one finding per thing it looked at, with what to do when
// something is not right. Like `postfix check`, it looks and says; it changes nothing.

/** `fail`: the deployment will not work as configured (exit 1); `warn`: it works, with a risk. */
export type FindingStatus = 'ok' | 'info' | 'warn' | 'fail';

export interface Finding {
  /** Which check, a short fixed word (`hostname`, `dns-resolver`, `database`, ...). */
  check: string;
  status: FindingStatus;
  /** What was found, in one sentence. */
  message: string;
  /** What to do about it; only when the status is `warn` or `fail`. */
  fix?: string;
}

export const ok = (check: string, message: string): Finding => ({ check, status: 'ok', message });
export const info = (check: string, message: string): Finding => ({
  check,
  status: 'info',
  message,
});
export const warn = (check: string, message: string, fix: string): Finding => ({
  check,
  status: 'warn',
  message,
  fix,
});
export const fail = (check: string, message: string, fix: string): Finding => ({
  check,
  status: 'fail',
  message,
  fix,
});

/** 1 when anything failed, else 0 (warnings do not fail, as with `check`'s deliverable). */
export function doctorExitCode(findings: readonly Finding[]): number {
  return findings.some((f) => f.status === 'fail') ? 1 : 0;
}
