import { test } from 'node:test';
import assert from 'node:assert/strict';
import { merchantPost, orderId, useStack, v1Create } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';
import { waitFor } from './helpers/wait.ts';

const stack = useStack();

test('a change stored while the audit write fails answers 200, is live at once, and is audited once the store takes it', async () => {
  const { gw } = stack;
  const store = gw.store as unknown as { appendAudit: (...a: unknown[]) => Promise<void> };
  const real = store.appendAudit.bind(store);
  let failures = 0;
  store.appendAudit = async (...a) => { if (failures++ < 1) throw new Error('injected audit failure'); return real(...a); };
  const put = await admin(gw, 'PUT', '/admin/rules', { rules: [], default: 'next', comment: 'all to next' });
  assert.equal(put.status, 200);
  const r = await merchantPost(gw, '/api/v1/payments', 'M-A', v1Create(orderId()));
  assert.equal(r.headers.get('x-cutover-backend'), 'next');
  assert.equal(r.headers.get('x-cutover-rules-version'), '2');
  await waitFor(async () => (await admin(gw, 'GET', '/admin/audit')).body.entries, (entries) => entries.some((e: any) => e.action === 'rules.put' && e.after.version === 2),
    { what: 'the audit entry of version 2', everyMs: 100 });
  assert.equal((await admin(gw, 'GET', '/admin/rules/history')).body.versions.length, 2);
});
