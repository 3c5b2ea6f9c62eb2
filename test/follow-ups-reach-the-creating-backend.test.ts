import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HALF_SPLIT_RULES, orderId, v1Create, v2Create, type RunningGateway } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';
import { asIs, noPinCache, useGateways } from './helpers/gateways.ts';

const SPLIT = HALF_SPLIT_RULES;

/** The second instance has no pin cache: every follow-up through it reads the pin from Redis. */
let creator: RunningGateway;
let uncached: RunningGateway;
const shared = useGateways(() => ({ rules: SPLIT, keyPrefix: 'follow:', instances: [asIs, noPinCache], onStarted: (gws) => { [creator, uncached] = gws; } }));

function call(gw: RunningGateway, method: string, path: string, merchant: string, body?: unknown, headers: Record<string, string> = {}) {
  return fetch(`${gw.url}${path}`, {
    method,
    headers: { 'x-merchant-id': merchant, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

interface Made { version: 'v1' | 'v2'; id: string; order: string; backend: string }
let seq = 0;

/** Every follow-up kind of SPEC 3 for one payment, through both API versions where its backend speaks them. */
function followUps(p: Made): { label: string; send: (gw: RunningGateway, m: string) => Promise<Response> }[] {
  const key = () => `fu-${process.pid}-${seq++}`;
  const v1 = [
    { label: 'v1 get', send: (gw: RunningGateway, m: string) => call(gw, 'GET', `/api/v1/payments/${p.id}`, m) },
    { label: 'v1 query', send: (gw: RunningGateway, m: string) => call(gw, 'GET', `/api/v1/payments?out_trade_no=${p.order}`, m) },
    { label: 'v1 refund', send: (gw: RunningGateway, m: string) => call(gw, 'POST', `/api/v1/payments/${p.id}/refund`, m, { out_request_no: key(), refund_amount: '0.01' }) },
  ];
  const v2 = [
    { label: 'v2 get', send: (gw: RunningGateway, m: string) => call(gw, 'GET', `/api/v2/payments/${p.id}`, m) },
    { label: 'v2 query', send: (gw: RunningGateway, m: string) => call(gw, 'GET', `/api/v2/payments?merchantOrderId=${p.order}`, m) },
    { label: 'v2 refund', send: (gw: RunningGateway, m: string) => call(gw, 'POST', `/api/v2/payments/${p.id}/refunds`, m, { amount: { value: 1, currency: 'CNY' } }, { 'idempotency-key': key() }) },
  ];
  return p.backend === 'next' ? [...v1, ...v2] : v1;
}

async function assertAllPinned(made: Made[], merchant: string, when: string): Promise<void> {
  for (const p of made) {
    for (const f of followUps(p)) {
      for (const gw of [creator, uncached]) {
        const r = await f.send(gw, merchant);
        const where = `${f.label} of a ${p.version} payment on ${p.backend}, ${when}, via the ${gw === creator ? 'creating' : 'uncached'} instance`;
        assert.ok(r.status === 200 || r.status === 201, `${where}: ${r.status} ${await r.text()}`);
        assert.equal(r.headers.get('x-cutover-backend'), p.backend, where);
        assert.equal(r.headers.get('x-cutover-reason'), 'pinned', where);
      }
    }
  }
}

test('every kind of follow-up reaches the creating backend, across a split weight change, a merchant flag and a rule flip', async () => {
  const merchant = 'M-follow';
  const made: Made[] = [];
  // v1 payments until the 50/50 split has put three on each side.
  const v1On = (b: string) => made.filter((p) => p.backend === b).length;
  while (v1On('legacy') < 3 || v1On('next') < 3) {
    assert.ok(made.length < 60, 'the split never sent three orders to each side');
    const order = orderId('f1');
    const r = await call(creator, 'POST', '/api/v1/payments', merchant, v1Create(order, '5.00'));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-cutover-reason'), 'rule:v1-half');
    made.push({ version: 'v1', id: (await r.json()).trade_no, order, backend: r.headers.get('x-cutover-backend')! });
  }
  for (let i = 0; i < 2; i++) {
    const order = orderId('f2');
    const r = await call(creator, 'POST', '/api/v2/payments', merchant, v2Create(order, 500), { 'idempotency-key': orderId('k') });
    assert.equal(r.status, 201);
    made.push({ version: 'v2', id: (await r.json()).id, order, backend: r.headers.get('x-cutover-backend')! });
  }
  await assertAllPinned(made, merchant, 'as created');

  const weights = await admin(creator, 'PUT', '/admin/rules', { ...SPLIT, rules: [SPLIT.rules[0], { ...SPLIT.rules[1], split: [{ backend: 'next', weight: 0 }, { backend: 'legacy', weight: 100 }] }] });
  assert.equal(weights.status, 200);
  await assertAllPinned(made, merchant, 'after the split went 0/100');

  assert.equal((await admin(creator, 'PUT', `/admin/merchants/${merchant}`, { backend: 'next' })).status, 200);
  await assertAllPinned(made, merchant, 'with the merchant flagged to next');
  assert.equal((await admin(creator, 'DELETE', `/admin/merchants/${merchant}`, {})).status, 200);

  assert.equal((await admin(creator, 'PUT', '/admin/rules', { rules: [{ name: 'all-v1-legacy', match: { apiVersion: 'v1' }, backend: 'legacy' }, SPLIT.rules[0]], default: 'next' })).status, 200);
  await assertAllPinned(made, merchant, 'after a rule flip');

  // New creates do follow the new rules, so the rules above really would have moved these.
  const fresh = await call(creator, 'POST', '/api/v1/payments', merchant, v1Create(orderId('f3')));
  assert.equal(fresh.headers.get('x-cutover-reason'), 'rule:all-v1-legacy');

  // Close and cancel, last (they end the payment).
  for (const p of made) {
    const path = p.version === 'v1' ? `/api/v1/payments/${p.id}/close` : `/api/v2/payments/${p.id}/cancel`;
    const r = await call(uncached, 'POST', path, merchant, undefined, p.version === 'v2' ? { 'idempotency-key': orderId('c') } : {});
    assert.equal(r.status, 200, `${path}: ${await r.text()}`);
    assert.equal(r.headers.get('x-cutover-backend'), p.backend);
    assert.equal(r.headers.get('x-cutover-reason'), 'pinned');
  }
});

test('an Idempotency-Key reused for another order does not drag that order off the backend its rules chose', async () => {
  const merchant = 'M-reuse';
  await admin(creator, 'PUT', '/admin/rules', { rules: [SPLIT.rules[0], { name: 'v1-legacy', match: { apiVersion: 'v1' }, backend: 'legacy' }], default: 'legacy' });
  const key = orderId('reused');
  const first = await call(creator, 'POST', '/api/v1/payments', merchant, v1Create(orderId('r1')), { 'idempotency-key': key });
  assert.equal(first.headers.get('x-cutover-backend'), 'legacy');

  await admin(creator, 'PUT', '/admin/rules', { rules: [SPLIT.rules[0], { name: 'v1-next', match: { apiVersion: 'v1' }, backend: 'next' }], default: 'legacy' });
  const order = orderId('r2');
  const second = await call(creator, 'POST', '/api/v1/payments', merchant, v1Create(order), { 'idempotency-key': key });
  assert.equal(second.status, 200);
  const backend = second.headers.get('x-cutover-backend')!;
  const tradeNo = (await second.json()).trade_no;
  // Wherever the payment was made, every follow-up by order number and by id must find it there.
  assert.ok(shared.backends[backend as 'legacy' | 'next'].state.store.findByOrder(merchant, order));
  for (const gw of [creator, uncached]) {
    const byOrder = await call(gw, 'GET', `/api/v1/payments?out_trade_no=${order}`, merchant);
    assert.equal(byOrder.status, 200);
    assert.equal(byOrder.headers.get('x-cutover-backend'), backend);
    const byId = await call(gw, 'GET', `/api/v1/payments/${tradeNo}`, merchant);
    assert.equal(byId.status, 200);
  }
});
