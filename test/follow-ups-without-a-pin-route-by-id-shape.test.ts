import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from './helpers/redis.ts';
import { orderId, startBackends, startGateway, testConfig, type Backends, type RunningGateway } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';

// Payments made before Cutover existed: straight in the backends' books, so no pin names them.
// The test config's pins.unpinned: [{ idPattern: "^pay_", backend: next }, { backend: legacy }].
const MERCHANT = 'M-old';
let redis: TestRedis;
let backends: Backends;
let gw: RunningGateway;
let onLegacy: { id: string; orderNo: string };
let onNext: { id: string; orderNo: string };
before(async () => {
  redis = await startRedis();
  backends = await startBackends();
  // Rules and a flag that would send everything of this merchant to next, and v1 to next:
  // unpinned follow-ups must not care.
  gw = await startGateway(testConfig(backends.urls, {}, { rules: [{ name: 'all-next', match: { apiVersion: 'v1' }, backend: 'next' }], default: 'next' }),
    { redisUrl: redis.url, keyPrefix: 'unpinned:' });
  const flag = await admin(gw, 'PUT', `/admin/merchants/${MERCHANT}`, { backend: 'next' });
  assert.equal(flag.status, 200);
  const book = { amount: 1000, currency: 'CNY', description: 'made before the cutover', via: 'v1' as const };
  onLegacy = backends.legacy.state.store.create(MERCHANT, { orderNo: orderId('old-l'), ...book }).payment;
  onNext = backends.next.state.store.create(MERCHANT, { orderNo: orderId('old-n'), ...book }).payment;
});
after(async () => { await gw.close(); await backends.close(); await redis.close(); });

const get = (path: string) => fetch(`${gw.url}${path}`, { headers: { 'x-merchant-id': MERCHANT } });

test('an unpinned id matching ^pay_ goes to next; any other id to the catch-all legacy (reason unpinned)', async () => {
  assert.match(onNext.id, /^pay_/);
  assert.doesNotMatch(onLegacy.id, /^pay_/);
  for (const [id, backend] of [[onNext.id, 'next'], [onLegacy.id, 'legacy']] as const) {
    const r = await get(`/api/v1/payments/${id}`);
    assert.equal(r.status, 200, `${id}: ${r.status}`);
    assert.equal(r.headers.get('x-cutover-backend'), backend);
    assert.equal(r.headers.get('x-cutover-reason'), 'unpinned');
    assert.equal((await r.json()).trade_no, id);
  }
  const refund = await fetch(`${gw.url}/api/v1/payments/${onLegacy.id}/refund`, {
    method: 'POST', headers: { 'x-merchant-id': MERCHANT, 'content-type': 'application/json' }, body: JSON.stringify({ out_request_no: 'r1', refund_amount: '1.00' }),
  });
  assert.equal(refund.status, 200);
  assert.equal(refund.headers.get('x-cutover-backend'), 'legacy');
  assert.equal(backends.legacy.state.store.find(MERCHANT, onLegacy.id)!.refunded, 100);
});

test('v2 follow-ups of unpinned ids: a pay_ id reaches next; another id goes to the v2 catch-all, never to legacy', async () => {
  const r = await get(`/api/v2/payments/${onNext.id}`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-cutover-reason'), 'unpinned');
  // The catch-all entry (legacy) does not speak v2: the last entry that does (next) takes it,
  // and answers 404 for a payment it does not hold.
  const other = await get(`/api/v2/payments/${onLegacy.id}`);
  assert.equal(other.status, 404);
  assert.equal(other.headers.get('x-cutover-backend'), 'next');
  assert.equal(other.headers.get('x-cutover-reason'), 'unpinned');
});

test('a query by an order number that has no pin goes to the catch-all', async () => {
  const r = await get(`/api/v1/payments?out_trade_no=${onLegacy.orderNo}`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-cutover-backend'), 'legacy');
  assert.equal(r.headers.get('x-cutover-reason'), 'unpinned');
});

test('an unknown id is still answered by the backend its shape names, which says 404', async () => {
  const r = await get('/api/v1/payments/pay_doesnotexist000000000000');
  assert.equal(r.status, 404);
  assert.equal(r.headers.get('x-cutover-backend'), 'next');
  assert.equal(r.headers.get('x-cutover-reason'), 'unpinned');
});
