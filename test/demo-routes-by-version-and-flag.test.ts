import { test } from 'node:test';
import assert from 'node:assert/strict';
import { merchantPost, orderId, useStack, v1Create, v2Create } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';

const stack = useStack();

test('v1 goes to legacy, v2 to next, a flagged merchant to next', async () => {
  const { gw } = stack;
  const r1 = await merchantPost(gw, '/api/v1/payments', 'M-1', v1Create(orderId()));
  assert.equal(r1.status, 200);
  assert.equal(r1.headers.get('x-cutover-backend'), 'legacy');
  assert.equal(r1.headers.get('x-cutover-reason'), 'default');
  const r2 = await merchantPost(gw, '/api/v2/payments', 'M-1', v2Create(orderId()), { 'idempotency-key': orderId('k') });
  assert.equal(r2.status, 201);
  assert.equal(r2.headers.get('x-cutover-backend'), 'next');
  assert.equal(r2.headers.get('x-cutover-reason'), 'rule:v2-to-next');
  assert.equal((await admin(gw, 'PUT', '/admin/merchants/M-F', { backend: 'next' })).status, 200);
  const r3 = await merchantPost(gw, '/api/v1/payments', 'M-F', v1Create(orderId()));
  assert.equal(r3.status, 200);
  assert.equal(r3.headers.get('x-cutover-backend'), 'next');
  assert.equal(r3.headers.get('x-cutover-reason'), 'merchant-flag');
  assert.match((await r3.json()).trade_no, /^pay_/);
});
