import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admin } from './helpers/admin.ts';
import { asIs, noPinCache, useGateways } from './helpers/gateways.ts';
import { orderId, v1Create, type RunningGateway } from './helpers/stack.ts';

const DAY = 86_400_000;
const TTL_DAYS = 400;
let clock = Date.now();
let cached: RunningGateway;
let uncached: RunningGateway;
useGateways(() => ({
  keyPrefix: 'expiry:', now: () => clock, instances: [asIs, noPinCache],
  onStarted: (gws) => { [cached, uncached] = gws; },
}));

const pinOf = (gw: RunningGateway, id: string) => admin(gw, 'GET', `/admin/pins/${id}`);

async function create(gw: RunningGateway, merchant: string, order = orderId('exp')): Promise<{ id: string; order: string }> {
  const r = await fetch(`${gw.url}/api/v1/payments`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': merchant }, body: JSON.stringify(v1Create(order)),
  });
  assert.equal(r.status, 200);
  return { id: (await r.json()).trade_no, order };
}

test(`a pin answers until ttlDays (${TTL_DAYS}) after it was made, and is gone from then on`, async () => {
  clock = Date.now();
  const { id } = await create(cached, 'M-exp');
  const first = await pinOf(uncached, id);
  assert.equal(first.status, 200);
  const pin = first.body;
  assert.equal(pin.backend, 'legacy');
  const pinnedAt = Date.parse(pin.pinnedAt);
  assert.ok(Math.abs(pinnedAt - clock) < 1000, `pinnedAt ${pin.pinnedAt}`);
  assert.equal(Date.parse(pin.expiresAt), pinnedAt + TTL_DAYS * DAY);

  for (const gw of [cached, uncached]) {
    clock = pinnedAt + TTL_DAYS * DAY - 1000;
    const late = await pinOf(gw, id);
    assert.equal(late.status, 200, 'one second before expiry');
    assert.equal(late.body.expiresAt, pin.expiresAt);
    clock = pinnedAt + TTL_DAYS * DAY;
    assert.equal((await pinOf(gw, id)).status, 404, 'at expiry');
  }
});

test('once expired, an order number can be pinned again by the rules of the day, and its old id follows the unpinned routes', async () => {
  clock = Date.now();
  const merchant = 'M-exp2';
  const { id, order } = await create(cached, merchant);
  // The merchant moves to next; while the pin lives the order stays on legacy.
  const flag = await admin(cached, 'PUT', `/admin/merchants/${merchant}`, { backend: 'next' });
  assert.equal(flag.status, 200);
  const query = (gw: RunningGateway) => fetch(`${gw.url}/api/v1/payments?out_trade_no=${order}`, { headers: { 'x-merchant-id': merchant } });
  clock += (TTL_DAYS - 1) * DAY;
  assert.equal((await query(uncached)).headers.get('x-cutover-reason'), 'pinned');
  clock += 2 * DAY;
  const stale = await fetch(`${uncached.url}/api/v1/payments/${id}`, { headers: { 'x-merchant-id': merchant } });
  assert.equal(stale.headers.get('x-cutover-reason'), 'unpinned');
  assert.equal(stale.headers.get('x-cutover-backend'), 'legacy');
  const again = await fetch(`${cached.url}/api/v1/payments`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': merchant }, body: JSON.stringify(v1Create(order)),
  });
  assert.equal(again.headers.get('x-cutover-backend'), 'next');
  assert.equal(again.headers.get('x-cutover-reason'), 'merchant-flag');
  const after = await query(uncached);
  assert.equal(after.headers.get('x-cutover-backend'), 'next');
  assert.equal(after.headers.get('x-cutover-reason'), 'pinned');
});

test('a gateway whose clock is far behind the Redis server keeps its pins (hashes expire relative to the writer)', async () => {
  clock = Date.now() - 600 * DAY;
  const { id } = await create(cached, 'M-exp3');
  const r = await pinOf(uncached, id);
  assert.equal(r.status, 200);
  assert.equal(r.body.backend, 'legacy');
});
