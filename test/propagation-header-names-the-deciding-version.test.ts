import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RULES, orderId, useStack, v1Create } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';

const stack = useStack();

test('a create decided just before a rules change reports the version that decided it', async () => {
  // Hold the create's pin claim (delay injection) while the rules change under it.
  const store = stack.gw.store as { pinIfAbsent: (...args: unknown[]) => Promise<unknown> };
  const pinIfAbsent = store.pinIfAbsent.bind(stack.gw.store);
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let claimed!: () => void;
  const claiming = new Promise<void>((r) => { claimed = r; });
  store.pinIfAbsent = async (...args: unknown[]) => { claimed(); await gate; return pinIfAbsent(...args); };
  try {
    const pending = fetch(`${stack.gw.url}/api/v1/payments`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-RACE' }, body: JSON.stringify(v1Create(orderId())),
    });
    await claiming; // decided by version 1 (default: legacy), now waiting on the store
    const put = await admin(stack.gw, 'PUT', '/admin/rules', { rules: DEFAULT_RULES.rules, default: 'next' });
    assert.equal(put.body.version, 2);
    release();
    const res = await pending;
    await res.arrayBuffer();
    assert.equal(res.headers.get('x-cutover-backend'), 'legacy', 'the create keeps the decision it was pinned by');
    assert.equal(res.headers.get('x-cutover-reason'), 'default');
    assert.equal(res.headers.get('x-cutover-rules-version'), '1', 'the header names the ruleset that decided');
  } finally {
    release();
    delete (store as Partial<typeof store>).pinIfAbsent;
  }
});
