import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { ADMIN_TOKEN, DEFAULT_RULES, adminCall, useStack } from './helpers/stack.ts';
import { assertClean, newConsolePage, screenshot, signIn, useBrowser, type PageTrouble } from './helpers/browser.ts';

// Issue 17: edit the rules in the page (If-Match), a stale save shown as a conflict with the diff, rollback with a confirmation.
const stack = useStack(() => ({ redis: true }));
const browser = useBrowser();
let page: Page;
let trouble: PageTrouble;

const current = async () => (await adminCall(stack.gw, 'GET', '/admin/rules')).json();
const editor = () => page.getByLabel('Ruleset');

async function openEditor(): Promise<void> {
  await page.getByRole('button', { name: 'Edit rules' }).click();
  await editor().waitFor();
}

test('a ruleset edited as YAML is validated by the gateway and saved as a new version', async () => {
  ({ page, trouble } = await newConsolePage(browser.browser));
  await signIn(page, stack.gw.adminUrl, ADMIN_TOKEN, 'rules');
  await page.getByRole('heading', { name: 'Rules · version 1' }).waitFor();
  await openEditor();
  await page.getByLabel('Format').selectOption('yaml');
  assert.match(await editor().inputValue(), /^rules:\n {2}- name: v2-to-next/);

  // A ruleset the gateway refuses: its problems are listed, nothing is stored.
  await editor().fill('rules: []\ndefault: nowhere\n');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByText('The gateway refused this ruleset:').waitFor();
  await page.locator('ul.problems').getByText('/default').waitFor();
  assert.equal((await current()).version, 1);
  trouble.errors.length = 0; // the browser logs the refused PUT (400) as a failed load: expected here

  await editor().fill('rules:\n  - name: v2-to-next\n    match: { apiVersion: v2 }\n    backend: next\ndefault: next\n');
  await page.getByLabel('Comment').fill('v1 default to next');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByText('Saved as version 2, live on every instance.').waitFor();
  const stored = await current();
  assert.deepEqual([stored.version, stored.default, stored.comment, stored.updatedBy], [2, 'next', 'v1 default to next', 'ops']);
  await page.getByRole('heading', { name: 'Rules · version 2' }).waitFor();
});

test('a save over a version someone else replaced meanwhile is answered by the conflict view with what they changed', async () => {
  await openEditor();
  const mine = JSON.parse(await editor().inputValue());
  mine.rules.push({ name: 'pilot', match: { merchants: ['M-PILOT'] }, backend: 'next' });
  await editor().fill(JSON.stringify(mine, null, 2));
  // Someone else saves first, through the admin API.
  const theirs = await adminCall(stack.gw, 'PUT', '/admin/rules', { ...DEFAULT_RULES, default: 'legacy', comment: 'back to legacy' }, { 'if-match': '"2"' });
  assert.equal(theirs.status, 200);

  await page.getByRole('button', { name: 'Save', exact: true }).click();
  const conflict = page.locator('.conflict');
  await conflict.getByRole('heading', { name: 'Someone changed the rules since you opened them' }).waitFor();
  assert.match((await conflict.textContent())!, /You opened version 2; the rules are now at version 3, saved .* by ops \(“back to legacy”\)/);
  await conflict.locator('ul.diff li').getByText('default next → legacy').first().waitFor();
  await conflict.getByText('rule pilot added: merchants M-PILOT → next').waitFor();
  assert.equal((await current()).version, 3, 'the stale save stored nothing');
  trouble.errors.length = 0; // the 409 is logged by the browser as a failed load: expected here
  await screenshot(page, 'rules-conflict');

  await conflict.getByRole('button', { name: 'Save my text over version 3' }).click();
  await page.getByText('Saved as version 4, live on every instance.').waitFor();
  const stored = await current();
  assert.equal(stored.version, 4);
  assert.deepEqual(stored.rules.map((r: { name: string }) => r.name), ['v2-to-next', 'pilot']);
});

test('a rollback first names what it changes, then makes a new version with the old content', async () => {
  await page.getByRole('button', { name: 'Roll back to 1', exact: true }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.getByRole('heading', { name: 'Roll back to version 1?' }).waitFor();
  const text = (await dialog.textContent())!;
  assert.match(text, /makes version 5 with the content of version 1/);
  assert.match(text, /rule pilot removed/);
  assert.match(text, /default next → legacy/);
  await screenshot(page, 'rules-rollback');
  await dialog.getByRole('button', { name: 'Roll back to version 1' }).click();
  await page.getByText('Rolled back: version 5 has the content of version 1.').waitFor();
  const stored = await current();
  assert.equal(stored.version, 5);
  assert.deepEqual({ rules: stored.rules, default: stored.default }, DEFAULT_RULES);

  // The history's diff between two versions, as the page shows it.
  await page.getByLabel('from version').selectOption('3');
  await page.getByLabel('to version').selectOption('4');
  await page.getByRole('button', { name: 'Show difference' }).click();
  await page.locator('.diff-out').getByText('rule pilot added: merchants M-PILOT → next').waitFor();
  await page.locator('.diff-out').getByText('default legacy → next').waitFor();
  await screenshot(page, 'rules');
  assertClean(trouble);
});
