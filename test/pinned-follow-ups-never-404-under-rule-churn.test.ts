import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderId, v1Create, v2Create, type RunningGateway } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';
import { asIs, noPinCache, useGateways } from './helpers/gateways.ts';
import type { Ruleset } from '../gateway/rules.ts';

const TRANSACTIONS = 300;
const CONCURRENCY = 16;
const MERCHANTS = ['M-c1', 'M-c2', 'M-c3', 'M-c4'];

/** The rule states the flipper cycles through; each would send some v1 traffic elsewhere. */
const STATES: Ruleset[] = [
  { rules: [{ name: 'v2-next', match: { apiVersion: 'v2' }, backend: 'next' }], default: 'legacy' },
  { rules: [{ name: 'v2-next', match: { apiVersion: 'v2' }, backend: 'next' }], default: 'next' },
  { rules: [{ name: 'v2-next', match: { apiVersion: 'v2' }, backend: 'next' },
    { name: 'v1-split', match: { apiVersion: 'v1' }, split: [{ backend: 'next', weight: 50 }, { backend: 'legacy', weight: 50 }], stickyBy: 'order' }], default: 'legacy' },
  { rules: [{ name: 'v2-next', match: { apiVersion: 'v2' }, backend: 'next' },
    { name: 'some-merchants', match: { merchants: ['M-c1', 'M-c3'], apiVersion: 'v1' }, backend: 'next' }], default: 'legacy' },
];

const shared = useGateways(() => ({ rules: STATES[0], keyPrefix: 'churn:', instances: [asIs, noPinCache] }));

function call(gw: RunningGateway, method: string, path: string, merchant: string, body?: unknown, headers: Record<string, string> = {}) {
  return fetch(`${gw.url}${path}`, {
    method, headers: { 'x-merchant-id': merchant, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

test(`${TRANSACTIONS} transactions followed up while rules and flags change in parallel: no follow-up is answered 404`, async () => {
  let changes = 0;
  /** One rule change and one flag change, made while the other workers' transactions are in flight. */
  async function change(): Promise<void> {
    const n = changes++;
    assert.equal((await admin(shared.gws[0], 'PUT', '/admin/rules', STATES[n % STATES.length])).status, 200);
    const merchant = MERCHANTS[n % MERCHANTS.length];
    const flag = n % 3 === 0 ? await admin(shared.gws[0], 'DELETE', `/admin/merchants/${merchant}`, {}) : await admin(shared.gws[0], 'PUT', `/admin/merchants/${merchant}`, { backend: n % 2 ? 'next' : 'legacy' });
    assert.ok(flag.status === 200 || flag.status === 404);
  }

  const statuses = new Map<number, number>();
  const misrouted: string[] = [];
  const v1CreatedOn = { legacy: 0, next: 0 } as Record<string, number>;
  let followUps = 0;
  const count = (r: Response, what: string) => {
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    if (r.status === 404) misrouted.push(what);
  };
  let next = 0;
  async function worker(w: number): Promise<void> {
    while (next < TRANSACTIONS) {
      const i = next++;
      if (i % 10 === 0) await change();
      const merchant = MERCHANTS[i % MERCHANTS.length];
      const viaCreate = shared.gws[i % 2];
      const viaFollow = shared.gws[(i + w) % 2];
      const order = orderId('churn');
      const v2 = i % 3 === 0;
      const created = v2
        ? await call(viaCreate, 'POST', '/api/v2/payments', merchant, v2Create(order, 1000), { 'idempotency-key': orderId('k') })
        : await call(viaCreate, 'POST', '/api/v1/payments', merchant, v1Create(order, '10.00'));
      assert.ok(created.status === 200 || created.status === 201, `create: ${created.status}`);
      const body = await created.json();
      const id: string = v2 ? body.id : body.trade_no;
      if (!v2) v1CreatedOn[created.headers.get('x-cutover-backend')!]++;
      const v = v2 ? 'v2' : 'v1';
      const sends: [string, () => Promise<Response>][] = [
        ['get', () => call(viaFollow, 'GET', `/api/${v}/payments/${id}`, merchant)],
        ['query', () => call(viaFollow, 'GET', v2 ? `/api/v2/payments?merchantOrderId=${order}` : `/api/v1/payments?out_trade_no=${order}`, merchant)],
        ['refund', () => v2
          ? call(viaFollow, 'POST', `/api/v2/payments/${id}/refunds`, merchant, { amount: { value: 100, currency: 'CNY' } }, { 'idempotency-key': orderId('rk') })
          : call(viaFollow, 'POST', `/api/v1/payments/${id}/refund`, merchant, { out_request_no: orderId('rq'), refund_amount: '1.00' })],
        ['close', () => v2
          ? call(viaFollow, 'POST', `/api/v2/payments/${id}/cancel`, merchant, undefined, { 'idempotency-key': orderId('ck') })
          : call(viaFollow, 'POST', `/api/v1/payments/${id}/close`, merchant)],
      ];
      for (const [what, send] of sends) {
        const r = await send();
        count(r, `${what} ${v} ${id} (${r.headers.get('x-cutover-backend')}, ${r.headers.get('x-cutover-reason')})`);
        await r.arrayBuffer();
        followUps++;
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));

  assert.deepEqual(misrouted, []);
  assert.equal(followUps, TRANSACTIONS * 4);
  assert.deepEqual([...statuses.keys()].sort(), [200, 201]);
  // The churn was real: v1 payments were made on both shared.backends.
  assert.equal(changes, TRANSACTIONS / 10);
  assert.ok(v1CreatedOn.legacy > 0 && v1CreatedOn.next > 0, JSON.stringify(v1CreatedOn));
});
