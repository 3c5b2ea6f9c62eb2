/**
 * The store round trips each kind of request makes, before its backend call
 * and after it, counted from Redis's MONITOR on a real redis-server and
 * checked against the table in docs/design.md ("Store round trips per
 * request"), so that the table stays what the gateway does. A create makes at
 * most one before its backend call (every claim in one script call) and one
 * after (its transaction id, or the release of its claims).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { noPinCache } from './helpers/gateways.ts';
import { startRedis, type TestRedis } from './helpers/redis.ts';
import { created, startScriptedBackend, type ScriptedBackend } from './helpers/scripted-backend.ts';
import { orderId, startGateway, testConfig, v1Create, v2Create, type RunningGateway } from './helpers/stack.ts';
import { row, section, tables } from './helpers/markdown.ts';

let redis: TestRedis;
let probe: Redis;
let legacy: ScriptedBackend;
let next: ScriptedBackend;
/** `hit`: an instance with a pin cache, which made the pins it is asked about; `miss`: one without a cache. */
const gw: Record<'hit' | 'miss', RunningGateway> = {} as never;

before(async () => {
  redis = await startRedis();
  probe = new Redis(redis.url);
  [legacy, next] = await Promise.all([startScriptedBackend(), startScriptedBackend()]);
  // Ids unique across both backends: a pin names one transaction.
  for (const b of [legacy, next]) b.reply = (r) => created(r, `tx_rtt_${orderId('p')}`);
  const raw = testConfig({ legacy: legacy.url, next: next.url }, { redis: { refreshSeconds: 3600 } });
  gw.hit = await startGateway(raw, { redisUrl: redis.url });
  gw.miss = await startGateway(noPinCache(raw), { redisUrl: redis.url });
});
after(async () => {
  for (const g of Object.values(gw)) await g?.close();
  probe?.disconnect();
  await Promise.all([legacy?.close(), next?.close()]);
  await redis?.close();
});

const M = 'M-rtt';
const send = (g: RunningGateway, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => fetch(`${g.url}${path}`, {
  method, headers: { 'x-merchant-id': M, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
  ...(body === undefined ? {} : { body: JSON.stringify(body) }),
});

/** A payment made through the `hit` instance (its pins cached there), with what a retry repeats. */
async function payment(v: 'v1' | 'v2') {
  const order = orderId('rtt');
  const key = orderId('k');
  const body = v === 'v1' ? v1Create(order) : v2Create(order);
  const headers: Record<string, string> = v === 'v2' ? { 'idempotency-key': key } : {};
  const r = await send(gw.hit, 'POST', `/api/${v}/payments`, body, headers);
  assert.equal(r.status, 201);
  const json = await r.json() as Record<string, string>;
  return { v, order, key, body, headers, id: v === 'v1' ? json.trade_no : json.id };
}

/**
 * The store round trips `request` makes before its backend is called and after, from
 * MONITOR: the script calls that touch a pin window (`<prefix>pin:{bucket}:window`,
 * never touched by an instance's background loops). The backend holds the call while
 * a marker goes through Redis, which splits the two.
 */
async function roundTrips(backend: ScriptedBackend, request: () => Promise<Response>, answer: { status: number; body: unknown } | 'created', expectStatus: number): Promise<[number, number]> {
  const sent: string[] = [];
  const monitor = await probe.monitor();
  const [mid, end] = [`mid-${orderId('m')}`, `end-${orderId('m')}`];
  let ended!: () => void;
  const done = new Promise<void>((resolve) => { ended = resolve; });
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (args[0]?.toLowerCase() === 'echo') { sent.push(args[1]); if (args[1] === end) ended(); } else if (source !== 'lua' && args.some((a) => /pin:\{\d+\}:\d+/.test(a))) sent.push(args[0].toLowerCase());
  });
  const reply = backend.reply;
  try {
    const base = backend.received.length;
    backend.reply = () => 'hold';
    const response = request();
    await Promise.race([backend.arrived(base + 1), response.then(async (r) => { throw new Error(`answered ${r.status} ${await r.clone().text()} without reaching the backend`); })]);
    await probe.echo(mid);
    const call = backend.received[base];
    const a = answer === 'created' ? created(call, `tx_rtt_${orderId('p')}`) : answer;
    call.answer(a.status, a.body);
    assert.equal((await response).status, expectStatus);
    await probe.echo(end);
    await done;
  } finally {
    backend.reply = reply;
    monitor.disconnect();
  }
  for (const c of sent) if (c !== mid && c !== end) assert.match(c, /^evalsha$|^eval$/, 'every pin round trip is one script call');
  const at = sent.indexOf(mid);
  return [at, sent.length - at - 2];
}

type Cache = 'hit' | 'miss';
const ok = { status: 200, body: { status: 'ok' } };

/** What each row of the table sends, on an instance whose pin cache hits or misses. */
const requests: Record<string, (cache: Cache) => Promise<[number, number]>> = {
  'v1 create': (c) => roundTrips(legacy, () => send(gw[c], 'POST', '/api/v1/payments', v1Create(orderId('rtt'))), 'created', 201),
  'v2 create': (c) => roundTrips(next, () => send(gw[c], 'POST', '/api/v2/payments', v2Create(orderId('rtt')), { 'idempotency-key': orderId('k') }), 'created', 201),
  'v2 create, retried': async (c) => {
    const p = await payment('v2');
    return roundTrips(next, () => send(gw[c], 'POST', '/api/v2/payments', p.body, p.headers), { status: 201, body: { id: p.id, status: 'pending' } }, 201);
  },
  'v2 create refused by its backend': (c) => roundTrips(next, () => send(gw[c], 'POST', '/api/v2/payments', v2Create(orderId('rtt')), { 'idempotency-key': orderId('k') }), { status: 400, body: { code: 'invalid' } }, 400),
  'query by order number': async (c) => {
    const p = await payment('v1');
    return roundTrips(legacy, () => send(gw[c], 'GET', `/api/v1/payments?out_trade_no=${p.order}`), { status: 200, body: { trade_no: p.id, code: '10000' } }, 200);
  },
  'follow-up by id': async (c) => {
    const p = await payment('v1');
    return roundTrips(legacy, () => send(gw[c], 'GET', `/api/v1/payments/${p.id}`), ok, 200);
  },
  'v2 refund or cancel': async (c) => {
    const p = await payment('v2');
    return roundTrips(next, () => send(gw[c], 'POST', `/api/v2/payments/${p.id}/refunds`, { amount: { value: 1, currency: 'CNY' } }, { 'idempotency-key': orderId('rk') }), ok, 200);
  },
};

test('each request makes the store round trips docs/design.md says, before and after its backend call', async () => {
  const table = tables(section(readFileSync('docs/design.md', 'utf8'), '## Store round trips per request'))[0];
  assert.deepEqual(table.map((r) => r[0]).filter((l, i, all) => all.indexOf(l) === i).sort(), Object.keys(requests).sort(), 'one row (or a hit row and a miss row) per request');
  for (const [label, run] of Object.entries(requests)) {
    const rows = table.filter((r) => r[0] === label);
    for (const cache of ['hit', 'miss'] as const) {
      const documented = rows.find((r) => r[1] === cache || r[1] === 'either') ?? row([], `${label}, ${cache}`);
      const measured = await run(cache);
      assert.deepEqual(measured, [Number(documented[2]), Number(documented[3])], `${label}, pin cache ${cache}: [before, after] the backend call`);
    }
  }
});
