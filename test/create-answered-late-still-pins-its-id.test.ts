import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { merchantPost, orderId, startBackends, startGateway, testConfig, v1Create, type Backends, type RunningGateway } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';

// Unpinned ids all go to next: a legacy payment whose id was never pinned would be misrouted,
// so these tests see at once whether the gateway pinned the id of a create it could not answer.
let backends: Backends;
let gw: RunningGateway;
before(async () => {
  backends = await startBackends();
  gw = await startGateway(testConfig(backends.urls, {
    backends: {
      legacy: { url: backends.urls.legacy, apiVersions: ['v1'], timeoutMs: 300 },
      next: { url: backends.urls.next, apiVersions: ['v1', 'v2'], timeoutMs: 2000 },
    },
    pins: { ttlDays: 400, unpinned: [{ backend: 'next' }] },
  }));
});
after(async () => { backends.legacy.controls.latencyMs = 0; await gw.close(); await backends.close(); });

async function pinOf(id: string, timeoutMs = 5000): Promise<string | undefined> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await admin(gw, 'GET', `/admin/pins/${id}`);
    if (r.status === 200) return r.body.backend;
    if (Date.now() > until) return undefined;
    await new Promise((res) => setTimeout(res, 50));
  }
}

test('a create that times out for the merchant still gets its transaction id pinned when the backend answers', async () => {
  backends.legacy.controls.latencyMs = 600;
  const order = orderId('late');
  const r = await merchantPost(gw, '/api/v1/payments', 'M-L', v1Create(order));
  assert.equal(r.status, 504);
  assert.equal((await r.json()).error, 'backend_timeout');
  backends.legacy.controls.latencyMs = 0;
  const made = await new Promise<{ id: string }>((resolve, reject) => {
    const until = Date.now() + 3000;
    const look = () => {
      const p = backends.legacy.state.store.findByOrder('M-L', order);
      if (p) resolve(p); else if (Date.now() > until) reject(new Error('legacy never made the payment')); else setTimeout(look, 20);
    };
    look();
  });
  assert.equal(await pinOf(made.id), 'legacy');
  const refund = await merchantPost(gw, `/api/v1/payments/${made.id}/refund`, 'M-L', { out_request_no: orderId('rf'), refund_amount: '1.00' });
  assert.equal(refund.status, 200);
  assert.equal(refund.headers.get('x-cutover-backend'), 'legacy');
});

test('a merchant hanging up during a create does not abort it, and its id is pinned', async () => {
  backends.legacy.controls.latencyMs = 200;
  const order = orderId('gone');
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(fetch(`${gw.url}/api/v1/payments`, {
    method: 'POST', signal: ac.signal, headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-G' }, body: JSON.stringify(v1Create(order)),
  }));
  backends.legacy.controls.latencyMs = 0;
  const until = Date.now() + 3000;
  let made = backends.legacy.state.store.findByOrder('M-G', order);
  while (!made && Date.now() < until) { await new Promise((res) => setTimeout(res, 20)); made = backends.legacy.state.store.findByOrder('M-G', order); }
  assert.ok(made, 'the backend finished the create');
  assert.equal(await pinOf(made.id), 'legacy');
});

test('a query by order number pins the id it answers with, so a follow-up by that id finds its backend', async () => {
  // Created before the gateway knew it: straight on legacy, then pinned by order only.
  const order = orderId('pre');
  const direct = await fetch(`${backends.urls.legacy}/api/v1/payments`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-Q' }, body: JSON.stringify(v1Create(order)),
  });
  const { trade_no: id } = await direct.json();
  assert.equal(await pinOf(id, 0), undefined);
  // Its order number is pinned (as a create whose answer was lost would leave it), its id is not.
  await gw.store.pinIfAbsent(`o:M-Q:${order}`, 'legacy', Date.now());
  const q = await fetch(`${gw.url}/api/v1/payments?out_trade_no=${order}`, { headers: { 'x-merchant-id': 'M-Q' } });
  assert.equal(q.status, 200);
  assert.equal(q.headers.get('x-cutover-reason'), 'pinned');
  assert.equal(await pinOf(id), 'legacy');
});
