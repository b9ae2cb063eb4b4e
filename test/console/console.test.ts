// The console in a real browser (headless Chromium from Debian, driven by playwright-core),
// against the whole service in one process: the API on a real port, the delivery worker, an
// in-process DNS server that signs zones, and SMTP servers with test certificates. It walks
// the path of the issue: sign in, add a domain, publish its records and verify it, send with
// the compose form, follow the message to DANE and PKIX evidence and a refusal with its
// reason, read the overview, export the evidence, sign out.
//
// One browser for the file, one page reused; every step waits for what it needs to see
// (elements, texts), never for a fixed time, so a loaded 2-core machine only makes it slower.
// Screenshots go to docs/screenshots when UPDATE_SCREENSHOTS=1, else to a temporary folder.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { addDaneMx } from '../delivery/dane-mx.ts';
import { startWorld, type World } from '../delivery/support.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { chromiumPath, openBrowser, type TestBrowser } from './browser.ts';

const DOMAIN = 'winkel.nl';
const executablePath = chromiumPath();
const screenshotDir = process.env.UPDATE_SCREENSHOTS
  ? path.resolve(import.meta.dirname, '../../docs/screenshots')
  : mkdtempSync(path.join(tmpdir(), 'securemail-screenshots-'));

/** A port free on loopback now, for the test MX hosts (the service must know it in advance). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('the console in a browser', {
  skip: executablePath === undefined && 'no Chromium (apt-get install chromium)',
}, () => {
  let store: TestStore;
  let w: World;
  let b: TestBrowser;
  let page: Page;
  let base: string;
  const requests: string[] = [];

  const shot = async (name: string, fullPage = true) => {
    // Wait for the fonts and the last layout, so the picture shows what a person sees.
    await page.evaluate('document.fonts.ready.then(() => true)');
    await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage });
  };
  const open = async (route: string, heading: string) => {
    await page.goto(`${base}/console/#${route}`);
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  };
  /** Every form control has a label (or an accessible name): the check a screen reader user needs. */
  const assertLabelled = async () => {
    // Runs in the page (this file is type-checked without the DOM library).
    const unlabelled =
      await page.evaluate(`[...document.querySelectorAll('input, select, textarea')]
      .filter((el) => el.type !== 'hidden' && el.labels.length === 0 && !el.getAttribute('aria-label'))
      .map((el) => el.outerHTML.slice(0, 80))`);
    assert.deepEqual(unlabelled, []);
  };

  before(async () => {
    mkdirSync(screenshotDir, { recursive: true });
    store = await dialects()[0]!.open();
    const smtpPort = await freePort();
    w = await startWorld(store, {
      SECUREMAIL_SMTP_PORT: String(smtpPort),
      SECUREMAIL_MX_ALLOW_NETWORKS: '127.0.0.0/8,::1/128',
      SECUREMAIL_WEBHOOK_ALLOW_PRIVATE: 'true',
    });
    await w.addMx('notify.test', '127.0.0.50', { port: smtpPort });
    await w.addMx('secure.test', '127.0.0.51');
    await addDaneMx(w, 'dane.test', '127.0.0.52');
    await w.addMx('plain.test', '127.0.0.53', { insecure: true });
    w.dns.set('hooks.winkel.test', [{ type: 'A', data: '127.0.0.1' }]);
    base = await w.app.listen({ host: '127.0.0.1', port: 0 });
    b = await openBrowser(executablePath!);
    page = b.page;
    page.setDefaultTimeout(30_000);
    page.on('request', (request) => requests.push(request.url()));
  });
  after(async () => {
    await b?.close();
    await w?.close();
    await store?.close();
    if (!process.env.UPDATE_SCREENSHOTS) rmSync(screenshotDir, { recursive: true, force: true });
  });

  test('/ leads to the sign-in page; a wrong secret is refused with a clear message', async () => {
    await page.goto(`${base}/`);
    await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/console/');
    await page.getByLabel('Client id').fill(w.tenant.clientId);
    await page.getByLabel('Client secret').fill('not-the-secret');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /client id or secret is not right/);
    await assertLabelled();
    await shot('sign-in-wrong-secret', false);
  });

  test('the right secret signs in to the overview; the token is kept in the tab, not a cookie', async () => {
    await page.getByLabel('Client secret').fill(w.tenant.clientSecret);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    const stored = await page.evaluate<string | null>(
      "sessionStorage.getItem('securemail.session')",
    );
    assert.ok(stored?.includes('"token"'));
    assert.deepEqual(await b.context.cookies(), []);
  });

  test('add a domain, see its records, publish them and verify until valid', async () => {
    await open('/domains', 'Domains');
    await assertLabelled();
    await page.getByLabel('Domain', { exact: true }).fill(DOMAIN);
    await page.getByLabel('Notification e-mail').fill('ops@notify.test');
    await page.getByRole('button', { name: 'Add domain' }).click();
    await page.getByRole('heading', { level: 1, name: DOMAIN }).waitFor();
    const rows = page.locator('table.records tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 7, 'ownership, 2 DKIM, 2 MX, SPF, DMARC');
    assert.equal(await page.locator('tr[data-status="pending"]').count(), 7);

    // Checked before anything is published: the required records are reported missing.
    await page.getByRole('button', { name: 'Verify now' }).click();
    await page.getByText(/required records are not found yet/).waitFor();
    assert.ok((await page.locator('tr[data-status="failed"]').count()) >= 6);
    await page.getByText('All records as a zone-file snippet').click();
    const zone = await page.locator('pre.zone').innerText();
    assert.match(
      zone,
      new RegExp(
        `^bounce\\.${DOMAIN.replace('.', '\\.')}\\. 3600 IN MX 10 mx1\\.platform\\.test\\.$`,
        'm',
      ),
    );
    await shot('domain-records');

    // The test plays the owner at the DNS provider: it publishes what the page shows.
    for (const record of await shownRecords(page)) {
      if (record.type === 'MX') {
        w.dns.add(record.name, {
          type: 'MX',
          preference: record.priority ?? 10,
          exchange: record.value,
        });
      } else {
        w.dns.add(record.name, { type: 'TXT', data: record.value });
      }
    }
    await page.getByRole('button', { name: 'Verify now' }).click();
    await page.getByText(/the domain is valid and can send/).waitFor();
    assert.equal(await page.locator('tr[data-status="success"]').count(), 7);
    assert.match(await page.locator('.status-line').innerText(), /Valid: ready to send/);
    await shot('domain-valid');
  });

  test('a webhook for the domain, with its secret shown once', async () => {
    await open(`/webhooks?domain=${DOMAIN}`, 'Webhooks');
    await page.getByLabel('HTTPS URL').fill('https://hooks.winkel.test/securemail');
    await page.getByRole('button', { name: 'Add webhook' }).click();
    await page.getByText('The signing secret, shown only now.').waitFor();
    assert.match(await page.locator('code.secret').innerText(), /\S{20,}/);
    await assertLabelled();
  });

  test('send with the compose form; DANE and PKIX evidence, and a refusal with its reason', async () => {
    await open('/send', 'Send a message');
    await assertLabelled();
    await page.getByLabel('From', { exact: true }).fill(`news@${DOMAIN}`);
    // A wrong address first: the API's error is shown under the field it names.
    const to = page.getByLabel('To', { exact: true });
    await to.fill('anna@secure.test, not-an-address');
    await page.getByLabel('Subject').fill('x');
    await page.getByLabel('Message', { exact: true }).fill('x');
    await page.getByRole('button', { name: 'Send' }).click();
    const toError = page.locator('#send-to-error');
    await toError.waitFor();
    assert.match(await toError.innerText(), /^recipients\.1: .*not-an-address/);
    assert.equal(await to.getAttribute('aria-invalid'), 'true');
    await to.fill('anna@secure.test, dirk@dane.test\ncor@plain.test');
    await page.getByLabel('Subject').fill('Your order 1042 – shipped');
    await page.getByLabel('Message', { exact: true }).fill('Hello,\n\nyour order is on its way.\n');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByText('Accepted for delivery').waitFor();

    await w.drain();
    await page.getByRole('link', { name: 'open the message' }).click();
    await page.getByRole('heading', { level: 1, name: 'Your order 1042 – shipped' }).waitFor();

    const anna = page.locator('article[data-address="anna@secure.test"]');
    const dirk = page.locator('article[data-address="dirk@dane.test"]');
    const cor = page.locator('article[data-address="cor@plain.test"]');
    assert.equal(await anna.getAttribute('data-status'), 'delivered');
    assert.equal(await dirk.getAttribute('data-status'), 'delivered');
    assert.equal(await cor.getAttribute('data-status'), 'refused_insecure');
    const fact = async (recipient: typeof anna, name: string) =>
      recipient.locator(`[data-fact="${name}"] dd`).innerText();
    assert.equal(await fact(anna, 'Authentication'), 'PKIX (public CA)');
    assert.equal(await fact(dirk, 'Authentication'), 'DANE');
    assert.match(await fact(dirk, 'MX host'), /^mx\.dane\.test \(127\.0\.0\.52\)$/);
    assert.equal(await fact(dirk, 'TLS version'), 'TLSv1.3');
    assert.match(
      await fact(dirk, 'Certificate fingerprint (SHA-256)'),
      /^([0-9a-f]{4} ){15}[0-9a-f]{4}$/,
    );
    assert.match(await fact(dirk, 'Certificate issuer'), /SecureMail Delivery Test Root/);
    assert.equal(await fact(dirk, 'DNSSEC of the MX records'), 'secure (signed and validated)');
    assert.match(await fact(anna, 'DNSSEC of the MX records'), /^insecure/);
    assert.match(
      await cor.locator('.reason-text').innerText(),
      /does not offer encryption \(STARTTLS\)/,
    );
    assert.match(await cor.innerText(), /Enable STARTTLS on every MX host/);
    assert.equal(await cor.locator('.timeline li').count(), 1);
    await shot('message');
  });

  test('the overview counts the day right, with methods and the refusal reason', async () => {
    await open('/overview?days=7', 'Overview');
    const card = (series: string) =>
      page.locator(`.card[data-series="${series}"] .card-value`).innerText();
    assert.equal(await card('delivered'), '2');
    assert.equal(await card('refused_insecure'), '1');
    assert.equal(await card('bounced'), '0');
    assert.equal(await card('deferred'), '0');
    assert.equal(await page.locator('.chart .bar').count(), 7);
    const today = page.locator('.chart .bar[data-date="2026-11-28"] rect');
    assert.equal(await today.count(), 2, 'a delivered and a refused segment');
    await page.getByText('Show the numbers as a table').click();
    const row = page.locator('table.daily tr[data-date="2026-11-28"]');
    assert.equal(await row.locator('[data-series="delivered"]').innerText(), '2');
    assert.equal(await row.locator('[data-series="refused_insecure"]').innerText(), '1');
    assert.match(await page.locator('.shares li[data-key="dane"]').innerText(), /1 \(50%\)/);
    assert.match(await page.locator('.shares li[data-key="pkix"]').innerText(), /1 \(50%\)/);
    assert.match(
      await page.locator('ol.reasons').innerText(),
      /does not offer encryption[\s\S]*plain\.test \(1\)/,
    );
    await page.getByText('Show the numbers as a table').click();
    await shot('overview');
  });

  test('the message list with counts, and the evidence export', async () => {
    await open(`/messages?domain=${DOMAIN}`, 'Messages');
    const row = page.locator('table.messages tbody tr');
    await row.first().waitFor();
    assert.equal(await row.count(), 1);
    assert.match(await row.innerText(), /Your order 1042 – shipped/);
    assert.match(
      await page.locator('.status-counts').innerText(),
      /Delivered\s+2[\s\S]*Refused as insecure\s+1/,
    );
    await assertLabelled();
    await shot('messages');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download evidence' }).click(),
    ]);
    assert.match(download.suggestedFilename(), /^evidence-winkel\.nl-\d{4}-\d{2}-\d{2}\.csv$/);
    const csv = readFileSync((await download.path())!, 'utf8');
    // The three recipients, and the notice to ops@notify.test about the refusal.
    assert.equal(csv.trim().split('\r\n').length, 5, csv);
    assert.match(csv, /dirk@dane\.test,delivered,[^\r]*,dane,TLSv1\.3/);
    assert.match(csv, /anna@secure\.test,delivered,[^\r]*,pkix,TLSv1\.3/);
    assert.match(csv, /cor@plain\.test,refused_insecure,[^\r]*refuse,starttls-not-supported/);
    await page.getByText(/Downloaded evidence-winkel\.nl/).waitFor();
  });

  test('the pre-flight check shows each host’s verdict, method and reason', async () => {
    await open('/check', 'Check a recipient');
    await assertLabelled();
    await page.getByLabel('Addresses or domains').fill('someone@dane.test, plain.test');
    await page.getByRole('button', { name: 'Check' }).click();
    const dane = page.locator('article[data-domain="dane.test"]');
    const plain = page.locator('article[data-domain="plain.test"]');
    await plain.waitFor();
    assert.equal(await dane.getAttribute('data-verdict'), 'deliver');
    assert.match(await dane.innerText(), /Authenticated by DANE/);
    assert.equal(await plain.getAttribute('data-verdict'), 'refuse');
    assert.match(
      await plain.locator('tbody').innerText(),
      /mx\.plain\.test[\s\S]*Failed[\s\S]*starttls-not-supported/,
    );
    await shot('check');
  });

  test('suppressions and the webhook’s recent deliveries', async () => {
    await open(`/suppressions?domain=${DOMAIN}`, 'Suppressions');
    await page.getByLabel('Address', { exact: true }).fill('old@secure.test');
    await page.getByLabel('Note (optional)').fill('left the company');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.locator('tr[data-address="old@secure.test"]').waitFor();
    await assertLabelled();
    await shot('suppressions');

    await open(`/webhooks?domain=${DOMAIN}`, 'Webhooks');
    const rows = page.locator('#deliveries ~ .table-scroll tbody tr');
    await rows.first().waitFor();
    const text = await page.locator('#deliveries ~ .table-scroll tbody').innerText();
    assert.match(text, /Refused as insecure\s+cor@plain\.test/);
    assert.match(text, /Delivered\s+dirk@dane\.test/);
    await shot('webhooks');
  });

  test('DKIM rotation lists the new keys; deleting a domain needs its name typed', async () => {
    await open(`/domains/${DOMAIN}`, DOMAIN);
    const rows = page.locator('table.records tbody tr');
    await rows.first().waitFor();
    await page.getByRole('button', { name: 'Rotate DKIM keys' }).click();
    const rotate = page.getByRole('dialog', { name: 'Rotate the DKIM keys?' });
    await rotate.getByRole('button', { name: 'Rotate DKIM keys' }).click();
    await page.getByText(/New DKIM keys are made/).waitFor();
    assert.equal(await rows.count(), 9, 'two new DKIM records to publish');
    assert.equal(await page.locator('tr[data-status="pending"]').count(), 2);
    assert.match(await page.locator('.status-line').innerText(), /Valid: ready to send/);

    await open('/domains', 'Domains');
    await page.getByLabel('Domain', { exact: true }).fill('weg.nl');
    await page.getByLabel('Notification e-mail').fill('ops@notify.test');
    await page.getByRole('button', { name: 'Add domain' }).click();
    await page.getByRole('heading', { level: 1, name: 'weg.nl' }).waitFor();
    await page.getByRole('button', { name: 'Delete domain' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete weg.nl?' });
    const confirm = dialog.getByRole('button', { name: 'Delete', exact: true });
    assert.equal(await confirm.isDisabled(), true, 'not before the name is typed');
    await dialog.getByLabel('Type weg.nl to confirm').fill('weg.nl');
    await confirm.click();
    await page.getByRole('heading', { level: 1, name: 'Domains' }).waitFor();
    await page.locator(`tr[data-domain="${DOMAIN}"]`).waitFor();
    assert.equal(await page.locator('tr[data-domain="weg.nl"]').count(), 0);
  });

  test('readable on a phone', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await open('/overview?days=7', 'Overview');
      const overflow = await page.evaluate<number>(
        'document.documentElement.scrollWidth - innerWidth',
      );
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
      await shot('overview-phone');
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  test('keyboard: a page opens with the focus on its heading; the skip link leads back to it', async () => {
    await open('/overview', 'Overview');
    const active = () =>
      page.evaluate<string | undefined>('document.activeElement?.textContent?.trim()');
    assert.equal(await active(), 'Overview');
    await page.keyboard.press('Tab');
    assert.equal(await active(), 'Last 7 days', 'the page’s first control comes next');
    // Backwards through the header (sign out, the seven sections, the name) to the skip link.
    for (let i = 0; i < 12 && (await active()) !== 'Skip to content'; i++) {
      await page.keyboard.press('Shift+Tab');
    }
    assert.equal(await active(), 'Skip to content');
    await page.keyboard.press('Enter');
    assert.equal(await active(), 'Overview');
  });

  test('sign out forgets the token; no token ever was in a URL; no CSP or script errors', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
    assert.equal(await page.evaluate("sessionStorage.getItem('securemail.session')"), null);
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
    const token = w.tenant.token;
    assert.ok(requests.length > 20);
    assert.deepEqual(
      requests.filter((url) => url.includes(token) || /access_token|client_secret/.test(url)),
      [],
    );
    // Expected error answers: the wrong secret of the first test, the webhook page asking for a
    // webhook before there was one, and the wrong address sent on purpose (the browser logs them).
    const expected = [
      /^401 .*\/oauth\/client_credential\/accesstoken/,
      /^404 .*\/account\/webhook\?/,
      /^400 .*\/message$/,
    ];
    const answers = b.problems.filter((p) => /^\d{3} /.test(p));
    assert.deepEqual(
      answers.filter((p) => !expected.some((e) => e.test(p))),
      [],
    );
    assert.deepEqual(
      b.problems.filter((p) => !/^\d{3} /.test(p) && !/Failed to load resource/.test(p)),
      [],
      'no script errors, no CSP violations',
    );
    assert.equal(
      b.problems.filter((p) => /Failed to load resource/.test(p)).length,
      answers.length,
    );
  });
});

interface ShownRecord {
  name: string;
  type: string;
  value: string;
  priority: number | undefined;
}

/** The records as the domain page shows them: name, type, value (and MX priority). */
async function shownRecords(page: Page): Promise<ShownRecord[]> {
  return page.locator('table.records tbody tr').evaluateAll((rows) =>
    rows.map((row) => {
      const cells = row.querySelectorAll('td');
      const priority = /Priority (\d+)/.exec(cells[2]?.textContent ?? '')?.[1];
      return {
        name: cells[0]?.querySelector('code')?.textContent ?? '',
        type: cells[1]?.textContent?.trim() ?? '',
        value: cells[2]?.querySelector('code.value')?.textContent ?? '',
        priority: priority === undefined ? undefined : Number(priority),
      };
    }),
  );
}
