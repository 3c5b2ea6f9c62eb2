import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, orderId, startBackends, startGateway, testConfig, v1Create, v2Create, type Backends, type RunningGateway } from './helpers/stack.ts';

let backends: Backends;
let gw: RunningGateway;
before(async () => {
  backends = await startBackends();
  gw = await startGateway(testConfig(backends.urls));
});
after(async () => { await gw.close(); await backends.close(); });

const post = (path: string, merchant: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': merchant, ...headers }, body: JSON.stringify(body) });

test('v1 goes to legacy, v2 to next, a flagged merchant to next', async () => {
  const r1 = await post('/api/v1/payments', 'M-1', v1Create(orderId()));
  assert.equal(r1.status, 200);
  assert.equal(r1.headers.get('x-cutover-backend'), 'legacy');
  assert.equal(r1.headers.get('x-cutover-reason'), 'default');
  const r2 = await post('/api/v2/payments', 'M-1', v2Create(orderId()), { 'idempotency-key': orderId('k') });
  assert.equal(r2.status, 201);
  assert.equal(r2.headers.get('x-cutover-backend'), 'next');
  assert.equal(r2.headers.get('x-cutover-reason'), 'rule:v2-to-next');
  const flag = await fetch(`${gw.adminUrl}/admin/merchants/M-F`, {
    method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ backend: 'next' }),
  });
  assert.equal(flag.status, 200);
  const r3 = await post('/api/v1/payments', 'M-F', v1Create(orderId()));
  assert.equal(r3.status, 200);
  assert.equal(r3.headers.get('x-cutover-backend'), 'next');
  assert.equal(r3.headers.get('x-cutover-reason'), 'merchant-flag');
  assert.match((await r3.json()).trade_no, /^pay_/);
});
