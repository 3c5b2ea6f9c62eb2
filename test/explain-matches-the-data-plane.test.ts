import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketOf } from '../gateway/bucket.ts';
import { DEFAULT_RULES, orderId, useStack, v1Create } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';

const stack = useStack();

const explain = (q: Record<string, string>) => admin(stack.gw, 'GET', `/admin/explain?${new URLSearchParams(q)}`);
const adminPut = (path: string, body: unknown) => admin(stack.gw, 'PUT', path, body);
const createV1 = (merchant: string, order: string) => fetch(`${stack.gw.url}/api/v1/payments`, {
  method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': merchant }, body: JSON.stringify(v1Create(order)),
});
const getPath = (merchant: string, path: string) => fetch(`${stack.gw.url}${path}`, { headers: { 'x-merchant-id': merchant } });
/** What a real answer says about its routing. */
const routed = (res: Response) => ({ backend: res.headers.get('x-cutover-backend'), reason: res.headers.get('x-cutover-reason') });

test('for a create, explain says default before it and pinned after it, as the real request does', async () => {
  const order = orderId();
  const beforeCreate = await explain({ apiVersion: 'v1', merchant: 'M-EX', orderId: order, method: 'POST' });
  assert.equal(beforeCreate.status, 200);
  assert.equal(beforeCreate.body.backend, 'legacy');
  assert.equal(beforeCreate.body.reason, 'default');
  assert.equal(beforeCreate.body.pinned, false);

  const real = await createV1('M-EX', order);
  assert.equal(real.status, 200);
  assert.deepEqual(routed(real), { backend: beforeCreate.body.backend, reason: beforeCreate.body.reason });
  const { trade_no } = await real.json();

  const afterCreate = await explain({ apiVersion: 'v1', merchant: 'M-EX', orderId: order, method: 'POST' });
  assert.equal(afterCreate.body.backend, 'legacy');
  assert.equal(afterCreate.body.reason, 'pinned');
  assert.equal(afterCreate.body.pinned, true);
  const again = await createV1('M-EX', order);
  assert.deepEqual(routed(again), { backend: 'legacy', reason: 'pinned' });

  const followUp = await explain({ apiVersion: 'v1', merchant: 'M-EX', path: `/api/v1/payments/${trade_no}` });
  assert.deepEqual([followUp.body.backend, followUp.body.reason, followUp.body.endpoint], ['legacy', 'pinned', 'get']);
  assert.deepEqual(routed(await getPath('M-EX', `/api/v1/payments/${trade_no}`)), { backend: 'legacy', reason: 'pinned' });
});

test('explain writes no pin: after a flag change the real create follows the flag, not an explained guess', async () => {
  const order = orderId();
  assert.equal((await explain({ apiVersion: 'v1', merchant: 'M-NOPIN', orderId: order })).body.backend, 'legacy');
  assert.equal((await adminPut('/admin/merchants/M-NOPIN', { backend: 'next' })).status, 200);
  const now = await explain({ apiVersion: 'v1', merchant: 'M-NOPIN', orderId: order });
  assert.deepEqual([now.body.backend, now.body.reason], ['next', 'merchant-flag']);
  assert.deepEqual(routed(await createV1('M-NOPIN', order)), { backend: 'next', reason: 'merchant-flag' });
});

test('under a 50/50 split, explain gives each merchant the bucket and backend the real create lands on', async () => {
  const split = { name: 'v1-half', match: { apiVersion: 'v1' }, split: [{ backend: 'next', weight: 50 }, { backend: 'legacy', weight: 50 }], stickyBy: 'merchant' };
  assert.equal((await adminPut('/admin/rules', { rules: [...DEFAULT_RULES.rules, split], default: 'legacy' })).status, 200);
  const seen = new Set<string>();
  for (let i = 0; i < 12; i++) {
    const merchant = `M-SPLIT-${i}`;
    const order = orderId();
    const e = await explain({ apiVersion: 'v1', merchant, orderId: order, method: 'POST' });
    assert.equal(e.body.reason, 'rule:v1-half');
    assert.equal(e.body.rule, 'v1-half');
    assert.equal(e.body.bucket, bucketOf('v1-half', merchant));
    assert.equal(e.body.backend, e.body.bucket < 5000 ? 'next' : 'legacy');
    assert.deepEqual(routed(await createV1(merchant, order)), { backend: e.body.backend, reason: 'rule:v1-half' }, merchant);
    seen.add(e.body.backend);
  }
  assert.deepEqual([...seen].sort(), ['legacy', 'next'], 'both sides were exercised');
});

test('follow-ups with no pin: explain and the data plane both use the id shape, and agree on version mismatches', async () => {
  for (const [id, backend] of [['pay_neverseen', 'next'], ['2026000000000000', 'legacy']]) {
    const path = `/api/v1/payments/${id}`;
    const e = await explain({ apiVersion: 'v1', merchant: 'M-UNP', path });
    assert.deepEqual([e.body.backend, e.body.reason, e.body.pinned], [backend, 'unpinned', false], id);
    const real = await getPath('M-UNP', path);
    assert.deepEqual(routed(real), { backend, reason: 'unpinned' });
    assert.equal(real.status, 404, 'the backend does not hold it');
  }
  const { trade_no } = await (await createV1('M-VM', orderId())).json();
  const e = await explain({ apiVersion: 'v2', merchant: 'M-VM', path: `/api/v2/payments/${trade_no}` });
  assert.equal(e.body.reason, 'refused');
  assert.equal(e.body.refusal.status, 409);
  assert.equal(e.body.refusal.error, 'version_mismatch');
  const real = await getPath('M-VM', `/api/v2/payments/${trade_no}`);
  assert.equal(real.status, 409);
  assert.equal((await real.json()).error, 'version_mismatch');
});

test('pins/{id} shows where a transaction lives and until when; explain refuses an incomplete question', async () => {
  const { trade_no } = await (await createV1('M-PIN', orderId())).json();
  const res = await admin(stack.gw, 'GET', `/admin/pins/${trade_no}`);
  assert.equal(res.status, 200);
  const pin = res.body;
  assert.equal(pin.transactionId, trade_no);
  assert.equal(pin.backend, 'legacy');
  assert.ok(Math.abs(Date.parse(pin.pinnedAt) - Date.now()) < 60_000);
  assert.equal(Date.parse(pin.expiresAt) - Date.parse(pin.pinnedAt), 400 * 86_400_000, 'pins.ttlDays after creation');

  const missing = await admin(stack.gw, 'GET', '/admin/pins/pay_nothing');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error, 'not_found');

  const noMerchant = await explain({ apiVersion: 'v1', orderId: 'O1' });
  assert.equal(noMerchant.status, 400);
  assert.equal(noMerchant.body.details[0].path, '/merchant');
  const noOrder = await explain({ apiVersion: 'v1', merchant: 'M-1', method: 'POST' });
  assert.equal(noOrder.status, 400);
  assert.equal(noOrder.body.details[0].path, '/orderId');
  const badVersion = await explain({ apiVersion: 'v9', merchant: 'M-1' });
  assert.equal(badVersion.status, 400);
  assert.equal(badVersion.body.details[0].path, '/apiVersion');
});

test('a request the data plane refuses before routing is explained as that refusal', async () => {
  for (const [method, path] of [['GET', '/api/v1/payments/T1/refund'], ['GET', '/api/v1/payments/a%2fb']]) {
    const e = await explain({ apiVersion: 'v1', merchant: 'M-REF', path, method });
    assert.equal(e.status, 200);
    assert.equal(e.body.reason, 'refused');
    assert.equal(e.body.backend, null);
    const real = await fetch(`${stack.gw.url}${path}`, { method, headers: { 'x-merchant-id': 'M-REF' } });
    assert.equal(e.body.refusal.status, real.status, path);
    assert.equal(e.body.refusal.error, (await real.json()).error);
  }
});
