import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderId, useStack, v1Create } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';

  // Default rules: v1 to legacy, v2 to next.
const stack = useStack(() => ({ redis: true, keyPrefix: 'mismatch:' }));

const call = (method: string, path: string, headers: Record<string, string> = {}) =>
  fetch(`${stack.gw.url}${path}`, { method, headers: { 'x-merchant-id': 'M-409', ...headers } });

async function createV1(): Promise<{ order: string; tradeNo: string; backend: string }> {
  const order = orderId('mm');
  const r = await fetch(`${stack.gw.url}/api/v1/payments`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-409' }, body: JSON.stringify(v1Create(order)),
  });
  assert.equal(r.status, 200);
  return { order, tradeNo: (await r.json()).trade_no, backend: r.headers.get('x-cutover-backend')! };
}

test('a v2 follow-up of a v1 payment pinned to legacy is 409 version_mismatch naming legacy and its versions', async () => {
  const p = await createV1();
  assert.equal(p.backend, 'legacy');
  const legacyCallsBefore = stack.backends.legacy.state.requests;
  const nextCallsBefore = stack.backends.next.state.requests;
  const followUps = [
    call('GET', `/api/v2/payments?merchantOrderId=${p.order}`),
    call('GET', `/api/v2/payments/${p.tradeNo}`),
    call('POST', `/api/v2/payments/${p.tradeNo}/cancel`, { 'idempotency-key': orderId('k') }),
  ];
  for (const r of await Promise.all(followUps)) {
    assert.equal(r.status, 409);
    const body = await r.json();
    assert.equal(body.error, 'version_mismatch');
    assert.deepEqual(body.details, { backend: 'legacy', apiVersions: ['v1'] });
    assert.match(body.message, /legacy/);
    assert.match(body.message, /v1/);
    assert.ok(body.requestId);
  }
  // Neither backend saw any of it: not legacy (it does not speak v2), not next (it does not hold the payment).
  assert.equal(stack.backends.legacy.state.requests, legacyCallsBefore);
  assert.equal(stack.backends.next.state.requests, nextCallsBefore);
  // The payment is untouched and still answers through v1.
  const v1 = await call('GET', `/api/v1/payments/${p.tradeNo}`);
  assert.equal(v1.status, 200);
  assert.equal((await v1.json()).status, 'TRADE_SUCCESS');
});

test('a v2 create reusing the order number of a v1 payment pinned to legacy is 409 too, and makes nothing, its key pin included', async () => {
  const p = await createV1();
  const key = orderId('k');
  const v2create = (order: string) => fetch(`${stack.gw.url}/api/v2/payments`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-409', 'idempotency-key': key },
    body: JSON.stringify({ merchantOrderId: order, amount: { value: 1234, currency: 'CNY' }, description: 'again' }),
  });
  const dup = await v2create(p.order);
  assert.equal(dup.status, 409);
  assert.equal((await dup.json()).error, 'version_mismatch');
  assert.equal(stack.backends.next.state.store.findByOrder('M-409', p.order), undefined);
  // The key was claimed with the order's backend in the same call; the refusal took it back,
  // so the merchant's corrected create with that key is not refused as a key used on legacy.
  const fresh = orderId('mm');
  const fixed = await v2create(fresh);
  assert.equal(fixed.status, 201, await fixed.clone().text());
  assert.equal(fixed.headers.get('x-cutover-backend'), 'next');
});

test('a v1 payment pinned to next answers v2 follow-ups, since next speaks both', async () => {
  const flag = await admin(stack.gw, 'PUT', '/admin/merchants/M-409n', { backend: 'next' });
  assert.equal(flag.status, 200);
  const order = orderId('nx');
  const created = await fetch(`${stack.gw.url}/api/v1/payments`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-409n' }, body: JSON.stringify(v1Create(order)),
  });
  assert.equal(created.headers.get('x-cutover-backend'), 'next');
  const id = (await created.json()).trade_no;
  for (const path of [`/api/v2/payments/${id}`, `/api/v2/payments?merchantOrderId=${order}`]) {
    const r = await fetch(`${stack.gw.url}${path}`, { headers: { 'x-merchant-id': 'M-409n' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-cutover-reason'), 'pinned');
    assert.equal((await r.json()).id, id);
  }
});
