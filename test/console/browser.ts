// Headless Chromium from the system (Debian's `chromium` package), driven by playwright-core:
// no browser is downloaded from npm. One browser per test file; pages are reused.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

/** Where Chromium is: CHROMIUM_PATH, else the Debian package's binary. */
export function chromiumPath(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((c): c is string => c !== undefined && existsSync(c));
}

// Without the background-networking switches Chromium tries to reach Google's services and
// is refused (there is no internet here), which only adds noise and delay.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Console errors and CSP violations seen so far: a page that works has none. */
  problems: string[];
  close(): Promise<void>;
}

export async function openBrowser(executablePath: string): Promise<TestBrowser> {
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'securemail-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    args: ARGS,
    headless: true,
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  const browser: Browser | null = context.browser();
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(String(error)));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
  });
  return {
    context,
    page,
    problems,
    async close() {
      await context.close();
      await browser?.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
