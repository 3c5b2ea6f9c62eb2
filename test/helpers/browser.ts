/**
 * A real browser for the console's tests: Debian's chromium driven by
 * playwright-core (nothing here downloads a browser build). One browser per
 * test file; each test opens pages in it. Every page records uncaught
 * errors, console errors and Content-Security-Policy violations, so a test
 * can assert the page ran clean under the console's strict CSP.
 */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Where the test run writes the console's screenshots (linked from the README). */
export const SCREENSHOT_DIR = join(import.meta.dirname, '..', '..', 'docs', 'console');

/** Registers before/after hooks launching one chromium for the file. */
export function useBrowser() {
  let browser: Browser;
  before(async () => { browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ARGS }); });
  after(async () => { await browser?.close(); });
  return { get browser() { return browser; } };
}

/** What went wrong in a page: uncaught errors, console errors, CSP violations. */
export interface PageTrouble { errors: string[] }

/** A fresh context (its own session storage) and page at 1280x800, recording trouble. */
export async function newConsolePage(browser: Browser): Promise<{ page: Page; context: BrowserContext; trouble: PageTrouble }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', timezoneId: 'UTC' });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const trouble: PageTrouble = { errors: [] };
  page.on('pageerror', (err) => trouble.errors.push(`page error: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') trouble.errors.push(`console: ${msg.text()}`); });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
  });
  return { page, context, trouble };
}

/** Opens /console, signs in with `token` and waits for the first view. */
export async function signIn(page: Page, adminUrl: string, token: string, view = 'overview'): Promise<void> {
  await page.goto(`${adminUrl}/console/#${view}`);
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator(`section.view[data-view="${view}"]`).waitFor();
}

/** Goes to a view through the navigation, as an operator does. */
export async function openView(page: Page, view: string, title: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: title, exact: true }).click();
  await page.locator(`section.view[data-view="${view}"]`).waitFor();
}

/** Writes a 1280x800 screenshot of the page to docs/console/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`) });
}

/** Fails when the page recorded any trouble. */
export function assertClean(trouble: PageTrouble): void {
  assert.deepEqual(trouble.errors, [], 'the page logged errors or CSP violations');
}
