import { test } from 'node:test';
import assert from 'node:assert/strict';
import { READONLY_TOKEN, adminCall, useStack, v1SplitRules } from './helpers/stack.ts';
import { assertClean, newConsolePage, openView, signIn, useBrowser } from './helpers/browser.ts';

// Issue 17: a read-only token sees everything, and every control that would change something is disabled, saying why.
const stack = useStack(() => ({
  redis: true,
  rules: v1SplitRules('v1-split', [{ backend: 'legacy', weight: 90 }, { backend: 'next', weight: 10 }], 'merchant'),
}));
const browser = useBrowser();

/**
 * Every control of the current view: the ones that only read (navigation,
 * search, filters, explain) carry data-read; any other must be disabled with
 * the reason as its tooltip. A change control added without the guard fails here.
 */
const controls = (view: string) => `section.view[data-view="${view}"] :is(button, input, select, textarea)`;

test('with a read-only token every view shows its data and every change control is disabled, with the reason as tooltip', async () => {
  // Something to see in every view: a second version, a flag, a finished rollout's history is not needed.
  assert.equal((await adminCall(stack.gw, 'PUT', '/admin/merchants/M-RO', { backend: 'next', comment: 'pilot' })).status, 200);
  const { page, trouble } = await newConsolePage(browser.browser);
  await signIn(page, stack.gw.adminUrl, READONLY_TOKEN);
  await page.getByText('Read-only token: you see everything; every change is disabled.').waitFor();

  const expectations: [string, string, string][] = [
    ['overview', 'Overview', 'article[data-backend="legacy"] [data-field="requests"]'],
    ['rules', 'Rules', 'table.history'],
    ['merchants', 'Merchants', 'tr[data-merchant="M-RO"]'],
    ['canary', 'Canary', 'form[aria-label="Start a canary"]'],
    ['drain', 'Drain and hand-over', 'form[aria-label="Start a hand-over"]'],
    ['audit', 'Audit', 'ol.audit > li'],
  ];
  let writeControls = 0;
  for (const [view, title, shown] of expectations) {
    await openView(page, view, title);
    await page.locator(shown).first().waitFor();
    const found = await page.locator(controls(view)).evaluateAll((els) => els.map((e) => ({
      label: e.getAttribute('aria-label') ?? e.textContent?.trim() ?? e.tagName,
      read: 'read' in (e as HTMLElement).dataset, write: 'write' in (e as HTMLElement).dataset,
      disabled: (e as HTMLButtonElement).disabled, title: (e as HTMLElement).title,
    })));
    for (const c of found.filter((x) => !x.read)) {
      assert.ok(c.write && c.disabled, `${view}: "${c.label}" is a change control but is not disabled`);
      assert.match(c.title, /^Read-only token "viewer": changes need a token without readOnly/, `${view}: "${c.label}"`);
    }
    const writes = found.filter((x) => x.write).length;
    if (view !== 'overview' && view !== 'audit') assert.ok(writes > 0, `${view} has change controls to check`);
    writeControls += writes;
  }
  assert.ok(writeControls >= 12, `${writeControls} change controls checked`);
  // The reads still work: explain answers.
  await openView(page, 'merchants', 'Merchants');
  await page.getByLabel('Explain merchant').fill('M-RO');
  await page.getByLabel('Order or transaction id').fill('O-1');
  await page.getByRole('button', { name: 'Explain' }).click();
  await page.locator('.explained[data-backend="next"]').waitFor();
  assertClean(trouble);
});
