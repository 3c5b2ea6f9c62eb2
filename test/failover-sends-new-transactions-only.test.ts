import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { orderId, startBackends, startGateway, testConfig, v1Create, type Backends, type RunningGateway } from './helpers/stack.ts';
import type { Ruleset } from '../gateway/rules.ts';

// SPEC 7: a rule's `failover` backend takes the NEW transactions the rule would send to a
// backend whose breaker is open; a pinned follow-up never fails over (503, never `next`).

const RULES: Ruleset = {
  rules: [
    { name: 'strict-merchant', match: { apiVersion: 'v1', merchants: ['M-STRICT'] }, backend: 'legacy' },
    { name: 'v1-legacy', match: { apiVersion: 'v1' }, backend: 'legacy', failover: 'next' },
    { name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' },
  ],
  default: 'legacy',
};
const BREAKER = { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 30_000, rollingCountTimeoutMs: 10_000 };

let backends: Backends;
let gw: RunningGateway;
let legacyPayment: { trade_no: string; out_trade_no: string };
before(async () => {
  backends = await startBackends();
  const raw = testConfig(backends.urls, {}, RULES);
  const cfg = raw.backends as Record<string, Record<string, unknown>>;
  gw = await startGateway({ ...raw, backends: { ...cfg, legacy: { ...cfg.legacy, breaker: BREAKER } } });
  // A payment created on legacy while it is healthy...
  const created = await create('M-FO');
  assert.equal(created.status, 200);
  assert.equal(created.headers.get('x-cutover-reason'), 'rule:v1-legacy');
  legacyPayment = await created.json();
  // ...then legacy fails until its breaker opens.
  backends.legacy.controls.failRate = 1;
  for (let i = 0; i < BREAKER.volumeThreshold; i++) await (await get('/api/v1/echo')).text();
});
after(async () => { backends.legacy.controls.failRate = 0; await gw.close(); await backends.close(); });

function create(merchant: string) {
  return fetch(`${gw.url}/api/v1/payments`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': merchant }, body: JSON.stringify(v1Create(orderId())),
  });
}
const get = (path: string) => fetch(`${gw.url}${path}`, { headers: { 'x-merchant-id': 'M-FO' } });

test('a new transaction fails over to next, with reason failover:<rule>, and stays there', async () => {
  const res = await create('M-FO');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-cutover-backend'), 'next');
  assert.equal(res.headers.get('x-cutover-reason'), 'failover:v1-legacy');
  const payment = await res.json();
  assert.match(payment.trade_no, /^pay_/, 'created by next');
  const follow = await get(`/api/v1/payments/${payment.trade_no}`);
  assert.equal(follow.status, 200);
  assert.equal(follow.headers.get('x-cutover-reason'), 'pinned');
  assert.equal(follow.headers.get('x-cutover-backend'), 'next');
});

test('pinned follow-ups of a legacy transaction get 503 from legacy and never reach next', async () => {
  const nextBefore = backends.next.state.requests;
  const legacyBefore = backends.legacy.state.requests;
  const calls = [
    get(`/api/v1/payments/${legacyPayment.trade_no}`),
    get(`/api/v1/payments?out_trade_no=${legacyPayment.out_trade_no}`),
    fetch(`${gw.url}/api/v1/payments/${legacyPayment.trade_no}/refund`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-FO' }, body: JSON.stringify({ out_request_no: orderId('R'), refund_amount: '1.00' }),
    }),
    fetch(`${gw.url}/api/v1/payments/${legacyPayment.trade_no}/close`, { method: 'POST', headers: { 'x-merchant-id': 'M-FO' } }),
  ];
  for (const res of await Promise.all(calls)) {
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('x-cutover-backend'), 'legacy');
    assert.equal(res.headers.get('x-cutover-reason'), 'pinned');
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
    assert.equal((await res.json()).error, 'backend_unavailable');
  }
  assert.equal(backends.next.state.requests, nextBefore, 'no follow-up reached next');
  assert.equal(backends.legacy.state.requests, legacyBefore, 'nor legacy: its breaker is open');
});

test('a rule without failover answers 503 for new transactions too', async () => {
  const res = await create('M-STRICT');
  assert.equal(res.status, 503);
  assert.equal(res.headers.get('x-cutover-backend'), 'legacy');
  assert.equal((await res.json()).error, 'backend_unavailable');
});
