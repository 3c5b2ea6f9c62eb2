import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderId, v1Create, type RunningGateway } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';
import { useGateways } from './helpers/gateways.ts';
import type { Ruleset } from '../gateway/rules.ts';

// Two instances on one Redis. The rule sends a v1 create carrying `X-Route: next` to next and
// every other v1 create to legacy, so without pinning the racers below would split between them.
const RULES: Ruleset = {
  rules: [
    { name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' },
    { name: 'routed-by-header', match: { apiVersion: 'v1', header: { name: 'x-route', equals: 'next' } }, backend: 'next' },
  ],
  default: 'legacy',
};

let a: RunningGateway;
let b: RunningGateway;
const shared = useGateways(() => ({ rules: RULES, keyPrefix: 'race:', onStarted: (gws) => { [a, b] = gws; } }));

function create(gw: RunningGateway, merchant: string, order: string, headers: Record<string, string> = {}) {
  return fetch(`${gw.url}/api/v1/payments`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': merchant, ...headers }, body: JSON.stringify(v1Create(order)),
  });
}

/** Which reference backends hold the merchant's payment for this order. */
function holders(merchant: string, order: string): string[] {
  return (['legacy', 'next'] as const).filter((k) => shared.backends[k].state.store.findByOrder(merchant, order) !== undefined);
}

async function race(n: number, fire: (i: number) => Promise<Response>) {
  const answers = await Promise.all(Array.from({ length: n }, (_, i) => fire(i)));
  const tradeNos = new Set<string>();
  const backendsSeen = new Set<string | null>();
  for (const r of answers) {
    assert.equal(r.status, 200);
    backendsSeen.add(r.headers.get('x-cutover-backend'));
    tradeNos.add((await r.json()).trade_no);
  }
  return { backendsSeen, tradeNos };
}

test('20 concurrent creates for one order through two instances, half of them routed elsewhere by the rules, make one payment on one backend', async () => {
  const merchant = 'M-race';
  for (let round = 0; round < 3; round++) {
    const order = orderId('race');
    const { backendsSeen, tradeNos } = await race(20, (i) => create(i % 2 ? a : b, merchant, order, i % 4 < 2 ? { 'x-route': 'next' } : {}));
    assert.equal(backendsSeen.size, 1, `answers came from ${[...backendsSeen].join(', ')}`);
    assert.equal(tradeNos.size, 1);
    assert.deepEqual(holders(merchant, order), [...backendsSeen]);
  }
});

test('waves of racing creates for one order, with a rule flip between waves, still meet on one backend', async () => {
  const merchant = 'M-race-flip';
  let flips = 0;
  const flip = async () => {
    // Alternately through each instance's admin API; the other one learns by pub/sub.
    const gw = flips % 2 ? b : a;
    const r = await admin(gw, 'PUT', '/admin/rules', { ...RULES, default: flips++ % 2 ? 'legacy' : 'next' });
    assert.equal(r.status, 200);
  };
  for (let round = 0; round < 4; round++) {
    const order = orderId('flip');
    const racers: Promise<Response>[] = [];
    for (let wave = 0; wave < 4; wave++) {
      // The earlier waves may still be in flight while the rules change under them.
      for (let i = 0; i < 5; i++) racers.push(create(i % 2 ? a : b, merchant, order));
      await flip();
    }
    const { backendsSeen, tradeNos } = await race(racers.length, (i) => racers[i]);
    assert.equal(backendsSeen.size, 1, `answers came from ${[...backendsSeen].join(', ')}`);
    assert.equal(tradeNos.size, 1);
    assert.deepEqual(holders(merchant, order), [...backendsSeen]);
  }
});
