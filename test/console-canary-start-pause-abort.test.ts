import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { ADMIN_TOKEN, adminCall, merchantPost, orderId, useStack, v1Create, v1SplitRules } from './helpers/stack.ts';
import { assertClean, newConsolePage, screenshot, signIn, useBrowser, type PageTrouble } from './helpers/browser.ts';

// Issue 17: a canary started from the page's form, watched live, paused, resumed and aborted.
const SPLIT = [{ backend: 'legacy', weight: 95 }, { backend: 'next', weight: 5 }];
const stack = useStack(() => ({ redis: true, canaryTickMs: 100, rules: v1SplitRules('v1-canary', SPLIT) }));
const browser = useBrowser();
let page: Page;
let trouble: PageTrouble;

const state = () => page.locator('.canary-summary [data-field="state"]');
const canaryRule = async () => (await (await adminCall(stack.gw, 'GET', '/admin/rules')).json()).rules[1];

test('a rollout started from the form runs its first step, and its gate readings come in live', async () => {
  ({ page, trouble } = await newConsolePage(browser.browser));
  await signIn(page, stack.gw.adminUrl, ADMIN_TOKEN, 'canary');
  await state().getByText('idle').waitFor();
  const form = page.getByRole('form', { name: 'Start a canary' });
  await form.getByLabel('Rule').selectOption('v1-canary');
  await form.getByLabel('Target backend').selectOption('next');
  await form.getByLabel('Steps').fill('20, 60');
  await form.getByLabel('Seconds per step').fill('600');
  await form.getByLabel('Min requests').fill('1');
  await form.getByRole('button', { name: 'Start rollout' }).click();
  await state().getByText('running').waitFor();
  await page.locator('[data-field="weight"]', { hasText: '20 %' }).waitFor();
  assert.deepEqual((await canaryRule()).split, [{ backend: 'legacy', weight: 80 }, { backend: 'next', weight: 20 }]);

  // Traffic until the target has answered some: the requests gate shows a reading.
  for (let i = 0; i < 40; i++) {
    const res = await merchantPost(stack.gw, '/api/v1/payments', 'M-CANARY', v1Create(orderId()));
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  }
  await page.waitForFunction(() => Number(document.querySelector('.gates tr[data-gate="requests"] td:nth-child(2)')?.textContent) >= 1);
  await page.locator('.gates tr[data-gate="requests"] td.pass').waitFor();
  assert.equal(await page.locator('.charts .chart canvas').count(), 3, 'one chart per gate');
  await screenshot(page, 'canary');
});

test('pause and resume from the page; abort puts the split back as it was', async () => {
  await page.getByRole('button', { name: 'Pause' }).click();
  await state().getByText('paused').waitFor();
  await page.getByRole('button', { name: 'Resume' }).click();
  await state().getByText('running').waitFor();
  await page.getByRole('button', { name: 'Abort' }).click();
  await state().getByText('aborted').waitFor();
  assert.deepEqual((await canaryRule()).split, SPLIT);
  const actions = (await (await adminCall(stack.gw, 'GET', '/admin/canary')).json()).history.map((h: { action: string; actor: string }) => `${h.action}:${h.actor}`);
  assert.deepEqual(actions.filter((a: string) => a.endsWith(':ops')), ['start:ops', 'pause:ops', 'resume:ops', 'abort:ops']);
  // The form is back for the next rollout.
  await page.getByRole('form', { name: 'Start a canary' }).waitFor();
  assertClean(trouble);
});
