// Formats pre-flight check reports for people (text, optionally coloured) and machines
// (JSON), and the exit code of `securemail check`.
import type { DomainReport, HostReport } from './check.ts';

/** 0: every domain deliverable; 1: any refused; 2: any deferred (and none refused). */
export function exitCode(reports: readonly DomainReport[]): 0 | 1 | 2 {
  if (reports.some((r) => r.verdict === 'refuse')) return 1;
  if (reports.some((r) => r.verdict === 'defer')) return 2;
  return 0;
}

export function formatJson(reports: readonly DomainReport[]): string {
  return `${JSON.stringify(reports, null, 2)}\n`;
}

const ANSI = {
  reset: '\x1b[0m',
  bold: '\x1b[1m',
  green: '\x1b[32m',
  red: '\x1b[31m',
  yellow: '\x1b[33m',
  dim: '\x1b[2m',
};
type Style = keyof typeof ANSI;

export interface TextOptions {
  colour: boolean;
}

export function formatText(reports: readonly DomainReport[], options: TextOptions): string {
  return reports.map((report) => formatReport(report, options)).join('');
}

/**
 * One domain's report as text, ending in a blank line. `progress` (`[2/5] `) prefixes it
 * when reports are printed as they finish, not in the order they were asked for.
 */
export function formatReport(report: DomainReport, options: TextOptions, progress = ''): string {
  const paint = (style: Style, text: string) =>
    options.colour ? `${ANSI[style]}${text}${ANSI.reset}` : text;
  const lines: string[] = [];
  const verdictStyle: Style =
    report.verdict === 'deliver' ? 'green' : report.verdict === 'refuse' ? 'red' : 'yellow';
  const verdict = paint(verdictStyle, report.verdict.toUpperCase());
  lines.push(
    `${progress}${paint('bold', report.domain)}  ${verdict}${report.reason ? ` (${report.reason})` : ''}`,
  );
  if (report.verdict === 'deliver') {
    lines.push(
      `  authenticated by ${report.method ?? '?'}; ${report.tlsVersion ?? '?'}, ${report.cipher ?? '?'}, ${report.keyExchange ?? '?'}`,
    );
    if (report.certificate) {
      const cert = report.certificate;
      lines.push(
        `  certificate ${cert.subject}, issued by ${cert.issuer}, valid until ${cert.validTo}`,
      );
      lines.push(paint('dim', `  sha256 ${cert.sha256}`));
    }
  } else {
    // What happened, with which server or resolver: "MX lookup for example.nl: SERVFAIL from
    // 127.0.0.1:53 (DNSSEC Bogus: ...)", "mx.example.nl [192.0.2.1]: ...".
    if (report.message) lines.push(`  ${report.message}`);
    if (report.explanation) lines.push(`  ${report.explanation}`);
    if (report.fix) lines.push(`  ${paint('dim', `fix: ${report.fix}`)}`);
  }
  for (const host of report.hosts) lines.push(...hostLines(host, paint));
  if (report.resolvers.length > 0) {
    const resolvers = report.resolvers
      .map(
        (r) =>
          `${r.address} (${r.trustAd ? 'AD trusted' : 'AD not trusted: DNSSEC counts as absent'})`,
      )
      .join(', ');
    lines.push(paint('dim', `  resolver: ${resolvers}`));
  }
  lines.push('');
  return `${lines.join('\n')}\n`;
}

function hostLines(host: HostReport, paint: (style: Style, text: string) => string): string[] {
  const mark = host.result === 'pass' ? paint('green', 'ok  ') : paint('red', 'fail');
  const where = `${host.host}${host.address ? ` [${host.address}]` : ''} pref ${host.preference}`;
  const lines = [
    `  ${mark} ${where}${host.method ? ` via ${host.method}` : ''}${host.reason ? `: ${host.reason}` : ''}`,
  ];
  const dnssec = [
    `mx ${host.dnssec.mx}`,
    host.dnssec.address,
    host.dnssec.tlsa ? `tlsa ${host.dnssec.tlsa}` : undefined,
  ]
    .filter(Boolean)
    .join(', ');
  lines.push(paint('dim', `       dns: ${dnssec}`));
  if (host.tlsVersion)
    lines.push(paint('dim', `       tls: ${host.tlsVersion}, ${host.cipher}, ${host.keyExchange}`));
  if (host.detail && host.result === 'fail') lines.push(paint('dim', `       ${host.detail}`));
  return lines;
}
