import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from './helpers/redis.ts';
import { merchantPost, orderId, startBackends, startGateway, testConfig, v1Create, type Backends, type RunningGateway } from './helpers/stack.ts';

const M = 'M-frozen';
let redis: TestRedis;
let backends: Backends;
before(async () => { redis = await startRedis(); backends = await startBackends(); });
after(async () => { await backends.close(); await redis.close(); });

for (const kind of ['memory', 'redis'] as const) {
  describe(`a frozen transaction (${kind} store)`, () => {
    let gw: RunningGateway;
    before(async () => { gw = await startGateway(testConfig(backends.urls), kind === 'redis' ? { redisUrl: redis.url, keyPrefix: `frozen${process.pid}:` } : {}); });
    after(async () => { await gw.close(); });

    test('its follow-ups get 503 transaction_moving with Retry-After: 1 and reach no backend; when the freeze ends unmoved they go where it lives', async () => {
      const order = orderId('f');
      const created = await merchantPost(gw, '/api/v1/payments', M, v1Create(order));
      const id: string = (await created.json()).trade_no;
      const get = (path: string) => fetch(`${gw.url}${path}`, { headers: { 'x-merchant-id': M } });
      assert.equal((await get(`/api/v1/payments/${id}`)).status, 200); // cached now

      const until = Date.now() + 1000;
      const keys = [`t:${id}`, `o:${M}:${order}`];
      assert.deepEqual(await gw.store.movePins('freeze', keys, 'legacy', 'next', until, Date.now()), ['done', 'done']);
      // What a hand-over's fence does on every instance: drop the cached copies.
      for (const k of keys) gw.gw.pins.forget(k);

      const calls = backends.legacy.state.requests + backends.next.state.requests;
      for (const path of [`/api/v1/payments/${id}`, `/api/v1/payments?out_trade_no=${order}`]) {
        const r = await get(path);
        assert.equal(r.status, 503, path);
        assert.equal(r.headers.get('retry-after'), '1');
        assert.equal((await r.json()).error, 'transaction_moving');
      }
      // A create repeating the order is held too, never sent to a guess.
      assert.equal((await (await merchantPost(gw, '/api/v1/payments', M, v1Create(order))).json()).error, 'transaction_moving');
      assert.equal(backends.legacy.state.requests + backends.next.state.requests, calls);

      // The freeze ends by itself within its second; the pin never moved.
      await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now() + 20)));
      const r = await get(`/api/v1/payments/${id}`);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-cutover-backend'), 'legacy');
      // A move naming a freeze that has ended does nothing.
      assert.deepEqual(await gw.store.movePins('move', keys, 'legacy', 'next', until, Date.now()), ['lapsed', 'lapsed']);
      assert.equal((await gw.store.getPin(`t:${id}`, Date.now()))!.backend, 'legacy');
    });
  });
}
