import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { noPinCache, useGateways } from './helpers/gateways.ts';
import { orderId, v1Create, v2Create } from './helpers/stack.ts';

let probe: Redis;
// Each test starts its instances. Long refresh, so that no periodic re-read of rules lands inside the measurement.
const shared = useGateways(() => ({ instances: 0, overrides: { redis: { refreshSeconds: 3600 } }, onStarted: () => { probe = new Redis(shared.redis.url); } }));
after(() => probe?.disconnect());

/** Calls per command since the last CONFIG RESETSTAT, without the probe's own INFO. */
async function commandCalls(): Promise<Record<string, number>> {
  const info = await probe.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (m[1] !== 'info') out[m[1]] = Number(m[2]);
  return out;
}

test('a follow-up by id on an instance without a pin cache costs one Redis command (one script call over every live window); a query by order two', async () => {
  const creator = await shared.start();
  const made: { v: 'v1' | 'v2'; id: string; order: string }[] = [];
  for (let i = 0; i < 10; i++) {
    const order = orderId('rt');
    const v2 = i % 2 === 1;
    const r = await fetch(`${creator.url}/api/${v2 ? 'v2' : 'v1'}/payments`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-rt', ...(v2 ? { 'idempotency-key': orderId('k') } : {}) },
      body: JSON.stringify(v2 ? v2Create(order) : v1Create(order)),
    });
    const body = await r.json();
    made.push({ v: v2 ? 'v2' : 'v1', id: v2 ? body.id : body.trade_no, order });
  }
  await shared.close(creator);
  const follower = await shared.start(noPinCache);
  try {
    await probe.config('RESETSTAT');
    let n = 0;
    for (const p of made) {
      for (const path of [`/api/${p.v}/payments/${p.id}`, p.v === 'v1' ? `/api/v1/payments?out_trade_no=${p.order}` : `/api/v2/payments?merchantOrderId=${p.order}`]) {
        const r = await fetch(`${follower.url}${path}`, { headers: { 'x-merchant-id': 'M-rt' } });
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('x-cutover-reason'), 'pinned');
        n++;
      }
    }
    const calls = await commandCalls();
    // One script call per follow-up by id (EVAL the first time on a connection, EVALSHA after);
    // a query by order number makes two: the order's pin, then the (set-if-absent) pin of the
    // transaction id in its answer, so that a create whose answer was lost gets its id pinned.
    const byId = n / 2;
    const byOrder = n / 2;
    assert.equal((calls.evalsha ?? 0) + (calls.eval ?? 0), byId + 2 * byOrder);
    // ...and nothing else: commandstats also counts the commands a script runs, here two HGETs
    // each (the window ahead, read for clock skew, then the current one, which holds the pin).
    assert.equal(calls.hget, 2 * (byId + 2 * byOrder));
    assert.deepEqual(Object.keys(calls).filter((c) => !['evalsha', 'eval', 'hget', 'config|resetstat'].includes(c)), []);
  } finally {
    await shared.close(follower);
  }
});
