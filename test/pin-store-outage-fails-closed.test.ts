import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asIs, noPinCache, useGateways } from './helpers/gateways.ts';
import { orderId, v1Create, v2Create, type RunningGateway } from './helpers/stack.ts';

const M = 'M-outage';
/** Created the payments, so it has their pins cached. */
let seen: RunningGateway;
/** Never saw them, and caches nothing. */
let blind: RunningGateway;
const shared = useGateways(() => ({ instances: [asIs, noPinCache], onStarted: (gws) => { [seen, blind] = gws; } }));

function call(gw: RunningGateway, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  return fetch(`${gw.url}${path}`, {
    method, headers: { 'x-merchant-id': M, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
const createV1 = (gw: RunningGateway, order = orderId('out')) => call(gw, 'POST', '/api/v1/payments', v1Create(order));
const createV2 = (gw: RunningGateway, order = orderId('out')) => call(gw, 'POST', '/api/v2/payments', v2Create(order), { 'idempotency-key': orderId('k') });

async function refused(r: Response): Promise<void> {
  assert.equal(r.status, 503);
  assert.equal(r.headers.get('retry-after'), '1');
  assert.equal((await r.json()).error, 'pin_store_unavailable');
}

/** Polls until `fn` gives a 2xx answer, for at most `ms`. */
async function until2xx(fn: () => Promise<Response>, ms: number): Promise<Response> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await fn();
    if (r.ok || Date.now() > deadline) return r;
    await r.arrayBuffer();
    await new Promise((res) => setTimeout(res, 100));
  }
}

test('with Redis down: cached pins still route, uncached ones and creates fail closed with 503, idPattern ids still route; then service resumes', async () => {
  const legacyOrder = orderId('l');
  const legacy = await createV1(seen, legacyOrder);
  assert.equal(legacy.headers.get('x-cutover-backend'), 'legacy');
  const legacyId: string = (await legacy.json()).trade_no;
  const next = await createV2(seen);
  assert.equal(next.status, 201);
  const nextId: string = (await next.json()).id;

  await shared.redis.stop();

  // The instance that made the pins serves every follow-up from its cache.
  for (const [method, path, body] of [
    ['GET', `/api/v1/payments/${legacyId}`], ['GET', `/api/v1/payments?out_trade_no=${legacyOrder}`],
    ['POST', `/api/v1/payments/${legacyId}/refund`, { out_request_no: 'during-outage', refund_amount: '1.00' }],
  ] as const) {
    const r = await call(seen, method, path, body);
    assert.equal(r.status, 200, `${method} ${path}`);
    assert.equal(r.headers.get('x-cutover-backend'), 'legacy');
    assert.equal(r.headers.get('x-cutover-reason'), 'pinned');
  }

  // The other instance cannot know where they live and refuses rather than guess.
  const legacyCalls = shared.backends.legacy.state.requests;
  await refused(await call(blind, 'GET', `/api/v1/payments/${legacyId}`));
  await refused(await call(blind, 'GET', `/api/v1/payments?out_trade_no=${legacyOrder}`));
  await refused(await call(blind, 'POST', `/api/v1/payments/${legacyId}/close`));
  assert.equal(shared.backends.legacy.state.requests, legacyCalls);

  // An id that an idPattern settles needs no store.
  const byShape = await call(blind, 'GET', `/api/v2/payments/${nextId}`);
  assert.equal(byShape.status, 200);
  assert.equal(byShape.headers.get('x-cutover-backend'), 'next');
  assert.equal(byShape.headers.get('x-cutover-reason'), 'unpinned');

  // A create cannot be pinned, so it is not forwarded at all.
  const nextPayments = shared.backends.next.state.store.paymentCount;
  const legacyPayments = shared.backends.legacy.state.store.paymentCount;
  await refused(await createV1(seen));
  await refused(await createV2(blind));
  assert.equal(shared.backends.next.state.store.paymentCount, nextPayments);
  assert.equal(shared.backends.legacy.state.store.paymentCount, legacyPayments);

  // The store comes back (empty: no persistence in tests); both instances resume without a restart.
  await shared.redis.start();
  for (const gw of [seen, blind]) {
    const order = orderId('back');
    const r = await until2xx(() => createV1(gw, order), 15_000);
    assert.equal(r.status, 200);
    const query = await call(blind, 'GET', `/api/v1/payments?out_trade_no=${order}`);
    assert.equal(query.status, 200);
    assert.equal(query.headers.get('x-cutover-reason'), 'pinned');
  }
});

test('after the store comes back empty, an instance started then reads the backend codes earlier instances write with', async () => {
  await shared.redis.stop();
  await shared.redis.start();
  // The running instance reconnects and writes its pins again (poll until it can).
  const first = await until2xx(() => createV2(seen), 15_000);
  assert.equal(first.status, 201);
  // A new instance whose config lists the backends in the other order, so that it would number them the other way.
  const reversed = (raw: Record<string, unknown>) => ({ ...raw, backends: { next: (raw.backends as any).next, legacy: (raw.backends as any).legacy } });
  const late = await shared.start((raw) => noPinCache(reversed(raw)));
  const order = orderId('codes');
  const made = await createV2(seen, order);
  assert.equal(made.status, 201);
  const id: string = (await made.json()).id;
  for (const path of [`/api/v2/payments?merchantOrderId=${order}`, `/api/v2/payments/${id}`]) {
    const r = await call(late, 'GET', path);
    assert.equal(r.status, 200, `${path}: ${r.status}`);
    assert.equal(r.headers.get('x-cutover-backend'), 'next');
    assert.equal(r.headers.get('x-cutover-reason'), 'pinned');
  }
  const legacyOrder = orderId('codes-l');
  assert.equal((await createV1(seen, legacyOrder)).headers.get('x-cutover-backend'), 'legacy');
  const q = await call(late, 'GET', `/api/v1/payments?out_trade_no=${legacyOrder}`);
  assert.equal(q.status, 200);
  assert.equal(q.headers.get('x-cutover-backend'), 'legacy');
});
