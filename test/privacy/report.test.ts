// The auditor's report on real deliveries: its figures are the evidence export's for the same
// period (recounted here from the export, independently of the report's code), its
// evidence.sha256 is the SHA-256 of the export's body, the HTML carries SVG charts, and the
// PDF renders (pdftoppm turns it into an image) and carries its key figures and the SHA-256
// of the JSON (pdftotext reads them back). Another tenant's domain is 404.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { summariseEvidence } from '../../src/evidence/summary.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from '../delivery/support.ts';
import { dialects, type TestStore } from '../support/db.ts';

const FROM = '2026-11-01T00:00:00.000Z';
const TO = '2026-12-01T00:00:00.000Z';
const QUERY = `domain=${SENDER_DOMAIN}&from=${FROM}&to=${TO}`;

function hasTool(name: string): boolean {
  try {
    execFileSync(name, ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const POPPLER = hasTool('pdftotext') && hasTool('pdftoppm');

interface ExportRecord {
  message: string;
  recipient: string;
  recipient_id: string;
  recipient_status: string;
  verdict: string;
  reason: string | null;
  evidence: unknown;
}

for (const dialect of dialects()) {
  describe(`auditor's report (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store);
      await w.addMx('good.test', '127.0.0.1');
      await w.addMx('bad.test', '127.0.0.2', { insecure: true });
      await w.addMx('worse.test', '127.0.0.4', { insecure: true });
      await w.addMx('notify.test', '127.0.0.3');
      for (const recipients of [
        ['a@good.test', 'b@good.test', 'c@bad.test'],
        ['d@good.test', 'e@worse.test', 'f@bad.test'],
      ]) {
        const r = await w.submit({
          sender: `news@${SENDER_DOMAIN}`,
          recipients,
          message: mime({ Subject: 'Report' }),
        });
        assert.equal(r.statusCode, 202, r.body);
        w.clock.now += 1000;
      }
      await w.drain();
    });
    after(async () => {
      await w.close();
      await store.close();
    });

    const get = (url: string) => w.app.inject({ method: 'GET', url, headers: w.tenant.auth });

    test("the report's figures are the evidence export's for the same period", async () => {
      const exported = await get(`/account/evidence?${QUERY}&format=json`);
      assert.equal(exported.statusCode, 200);
      const attempts: ExportRecord[] = exported.json().attempts;
      const response = await get(`/account/report?${QUERY}&format=json`);
      assert.equal(response.statusCode, 200, response.body);
      const report = response.json();

      assert.equal(
        report.evidence.sha256,
        createHash('sha256').update(exported.rawPayload).digest('hex'),
      );
      assert.equal(report.evidence.attempts, attempts.length);
      assert.equal(report.attempts.total, attempts.length);
      const of = (verdict: string) => attempts.filter((a) => a.verdict === verdict);
      for (const verdict of ['deliver', 'refuse', 'defer', 'bounce', 'fail']) {
        assert.equal(report.attempts.by_verdict[verdict], of(verdict).length, verdict);
      }
      assert.equal(report.messages_attempted, new Set(attempts.map((a) => a.message)).size);
      assert.equal(report.recipients_attempted, new Set(attempts.map((a) => a.recipient_id)).size);
      assert.equal(
        report.delivered.recipients,
        new Set(of('deliver').map((a) => a.recipient_id)).size,
      );
      const methods: Record<string, number> = {};
      const versions: Record<string, number> = {};
      for (const a of of('deliver')) {
        const s = summariseEvidence(JSON.stringify(a.evidence));
        methods[s.authentication!] = (methods[s.authentication!] ?? 0) + 1;
        versions[s.tls_version!] = (versions[s.tls_version!] ?? 0) + 1;
      }
      for (const [method, n] of Object.entries(methods))
        assert.equal(report.delivered.by_method[method], n);
      assert.deepEqual(report.delivered.by_tls_version, versions);
      const refusals = new Map<string, Map<string, number>>();
      for (const a of of('refuse')) {
        const domains = refusals.get(a.reason!) ?? new Map<string, number>();
        const domain = a.recipient.split('@')[1]!;
        domains.set(domain, (domains.get(domain) ?? 0) + 1);
        refusals.set(a.reason!, domains);
      }
      assert.equal(report.refused_insecure.by_reason.length, refusals.size);
      for (const r of report.refused_insecure.by_reason) {
        assert.deepEqual(
          Object.fromEntries(
            r.domains.map((d: { domain: string; attempts: number }) => [d.domain, d.attempts]),
          ),
          Object.fromEntries(refusals.get(r.reason)!),
        );
      }
      // And the figures are what was sent: 3 delivered over PKIX, 3 refused, and the two
      // notices of the refusals to the account's address (the export has them too).
      assert.equal(report.delivered.recipients, 5);
      assert.equal(report.delivered.by_method.pkix, 5);
      assert.equal(report.refused_insecure.attempts, 3);
      assert.equal(report.accepted.messages, 2);
      assert.equal(report.accepted.recipients, 6);
      assert.equal(report.settings.policy_level, w.account.policy_level);
      assert.equal(report.settings.retention_days.message_bodies, 0);

      // The same query gives the same bytes (the JSON has no time of its own).
      const again = await get(`/account/report?${QUERY}&format=json`);
      assert.equal(again.body, response.body);
    });

    test('HTML: SVG charts and the SHA-256 of the JSON', async () => {
      const json = await get(`/account/report?${QUERY}&format=json`);
      const html = await get(`/account/report?${QUERY}&format=html`);
      assert.equal(html.statusCode, 200);
      assert.match(html.headers['content-type'] as string, /^text\/html/);
      assert.equal((html.body.match(/<svg /g) ?? []).length, 4);
      assert.ok(html.body.includes(createHash('sha256').update(json.rawPayload).digest('hex')));
      assert.doesNotMatch(html.body, /<script/i);
    });

    test('PDF: renders, and carries its key figures and the SHA-256 of the JSON', {
      skip: !POPPLER && 'pdftotext/pdftoppm (poppler-utils) not installed',
    }, async () => {
      const json = await get(`/account/report?${QUERY}&format=json`);
      const pdf = await get(`/account/report?${QUERY}&format=pdf`);
      assert.equal(pdf.statusCode, 200);
      assert.equal(pdf.headers['content-type'], 'application/pdf');
      assert.equal(pdf.rawPayload.subarray(0, 5).toString(), '%PDF-');
      const dir = mkdtempSync(path.join(tmpdir(), 'securemail-report-'));
      try {
        const file = path.join(dir, 'report.pdf');
        writeFileSync(file, pdf.rawPayload);
        const text = execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
        assert.match(
          text,
          new RegExp(`Secure delivery report: ${SENDER_DOMAIN.replace('.', '\\.')}`),
        );
        assert.match(text, /Delivered recipients\s+5/);
        assert.match(text, /Refused as insecure \(attempts\)\s+3/);
        assert.match(text, /starttls-not-supported: 3/);
        assert.match(text, /bad\.test \(2\), worse\.test \(1\)/);
        assert.match(text, /Delivered attempts by authentication/);
        assert.ok(
          text.includes(createHash('sha256').update(json.rawPayload).digest('hex')),
          'the SHA-256 of the JSON',
        );
        // Turned into images: every page renders, and the first has ink (text and bars).
        execFileSync('pdftoppm', ['-png', '-r', '40', file, path.join(dir, 'page')]);
        const pages = readdirSync(dir).filter((f) => f.endsWith('.png'));
        assert.ok(pages.length >= 1);
        for (const page of pages) assert.ok(statSync(path.join(dir, page)).size > 1000);
        const firstPage = readFileSync(path.join(dir, pages.sort()[0]!));
        if (process.env.KEEP_REPORT) execFileSync('cp', ['-r', dir, process.env.KEEP_REPORT]);
        assert.equal(firstPage.subarray(1, 4).toString(), 'PNG');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test("another tenant's domain is 404, and a period over a year is refused", async () => {
      const missing = await get('/account/report?domain=nobody.nl');
      assert.equal(missing.statusCode, 404);
      const long = await get(
        `/account/report?domain=${SENDER_DOMAIN}&from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z`,
      );
      assert.equal(long.statusCode, 400);
    });
  });
}
