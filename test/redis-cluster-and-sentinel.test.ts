/**
 * The gateway on a real Redis Cluster (three masters) and behind a real
 * Sentinel (master, replica, one Sentinel), configured as an operator would
 * (`redis.cluster`, `redis.sentinel`): pins, rules and their propagation work
 * across instances on the Cluster, and a Sentinel failover costs follow-ups
 * a refusal (503, never a guess) while it lasts, then nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { redisCli, startRedisCluster, startRedisSentinel, type TestRedisCluster, type TestSentinelGroup } from './helpers/redis.ts';
import { HALF_SPLIT_RULES, orderId, startBackends, startGateway, testConfig, v1Create, v2Create, type Backends, type RunningGateway } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';

const SPLIT = HALF_SPLIT_RULES;

let backends: Backends;
let cluster: TestRedisCluster;
let sentinel: TestSentinelGroup;
const gateways: RunningGateway[] = [];

before(async () => {
  [backends, cluster, sentinel] = await Promise.all([startBackends(), startRedisCluster(), startRedisSentinel()]);
});
after(async () => {
  for (const g of gateways) await g.close();
  await Promise.all([backends?.close(), cluster?.close(), sentinel?.close()]);
});

/** A gateway whose `redis` section reaches the store as given; `cacheSize: 0` makes every follow-up read its pin from the store. */
async function gateway(redis: Record<string, unknown>, cacheSize?: number): Promise<RunningGateway> {
  const cfg = testConfig(backends.urls, { redis }, SPLIT);
  const g = await startGateway(cacheSize === undefined ? cfg : { ...cfg, pins: { ...(cfg.pins as object), cacheSize } });
  gateways.push(g);
  return g;
}

function call(gw: RunningGateway, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  return fetch(`${gw.url}${path}`, {
    method,
    headers: { 'x-merchant-id': 'M-topology', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Creates a payment through `gw`; returns its id and the backend that made it. */
async function create(gw: RunningGateway, version: 'v1' | 'v2'): Promise<{ id: string; backend: string }> {
  const r = version === 'v1'
    ? await call(gw, 'POST', '/api/v1/payments', v1Create(orderId('C')))
    : await call(gw, 'POST', '/api/v2/payments', v2Create(orderId('C')), { 'idempotency-key': orderId('K') });
  const body = await r.json() as { trade_no?: string; paymentId?: string };
  assert.ok(r.status === 200 || r.status === 201, `create: ${r.status} ${JSON.stringify(body)}`);
  return { id: (body.trade_no ?? (body as { id?: string }).id)!, backend: r.headers.get('x-cutover-backend')! };
}

test('on a Redis Cluster, two instances share pins and rules: follow-ups through the other instance reach the creating backend', async () => {
  const redis = { ...cluster.connection, keyPrefix: 'topo-cluster:' };
  const a = await gateway(redis);
  const b = await gateway(redis, 0);

  const made = [];
  for (let i = 0; i < 6; i++) made.push(await create(a, 'v1'));
  made.push(await create(a, 'v2'));
  assert.deepEqual(new Set(made.map((m) => m.backend)), new Set(['legacy', 'next']), 'the split put payments on both backends');
  for (const p of made) {
    const r = await call(b, 'GET', `/api/v1/payments/${p.id}`);
    assert.equal(r.status, 200, `${p.id}: ${await r.text()}`);
    assert.equal(r.headers.get('x-cutover-backend'), p.backend);
    assert.equal(r.headers.get('x-cutover-reason'), 'pinned');
  }

  // A ruleset change through A's admin API reaches B through the Cluster's pub/sub.
  const put = await admin(a, 'PUT', '/admin/rules', { rules: [{ name: 'all-v1-to-legacy', match: { apiVersion: 'v1' }, backend: 'legacy' }, SPLIT.rules[0]], default: 'legacy' });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  const version = (put.body as { version: number }).version;
  let seen = '';
  for (let i = 0; i < 50 && seen !== String(version); i++) {
    const r = await call(b, 'POST', '/api/v1/payments', v1Create(orderId('R')));
    await r.arrayBuffer();
    seen = r.headers.get('x-cutover-rules-version') ?? '';
    if (seen !== String(version)) await sleep(20);
  }
  assert.equal(seen, String(version), 'B routes by the version A stored');

  // The store's keys really are spread over the Cluster's masters.
  const holding = cluster.ports.filter((port) => redisCli(port, '--scan', '--pattern', 'topo-cluster:*').trim().length > 0);
  assert.ok(holding.length >= 2, `keys on ${holding.length} of ${cluster.ports.length} masters`);
});

test('on a Cluster, when the master holding the backend codes restarts empty, the running instance writes its codes back before anyone pins with them', async () => {
  const g = await gateway({ ...cluster.connection, keyPrefix: 'topo-settle:' });
  const key = 'topo-settle:backendcodes';
  const holder = cluster.ports.find((port) => redisCli(port, 'exists', key).trim() === '1');
  assert.ok(holder, 'one master holds the codes');
  const codes = redisCli(holder, 'hgetall', key);
  await cluster.restartEmpty(holder);
  let now = '';
  for (let i = 0; i < 100 && now !== codes; i++) {
    now = redisCli(holder, 'hgetall', key);
    if (now !== codes) await sleep(50);
  }
  assert.equal(now, codes, 'the same names with the same codes, written back by the running instance');
  // And pinning goes on: a create and its follow-up on the restarted Cluster.
  const made = await create(g, 'v1');
  const r = await call(g, 'GET', `/api/v1/payments/${made.id}`);
  await r.arrayBuffer();
  assert.equal(r.headers.get('x-cutover-backend'), made.backend);
});

test('with redis.waitReplicas, a create is answered only once a replica holds its pins; while none does, it is refused with 503 and never forwarded', async () => {
  const g = await gateway({ ...sentinel.connection, keyPrefix: 'topo-wait:', commandTimeoutMs: 250, waitReplicas: 1 }, 0);
  const first = await create(g, 'v1');
  const r = await call(g, 'GET', `/api/v1/payments/${first.id}`);
  await r.arrayBuffer();
  assert.equal(r.headers.get('x-cutover-reason'), 'pinned');

  const payments = () => backends.legacy.state.requests + backends.next.state.requests;
  const before = payments();
  sentinel.pauseReplica();
  try {
    const refused = await call(g, 'POST', '/api/v1/payments', v1Create(orderId('W')));
    const body = await refused.json() as { error?: string };
    assert.equal(refused.status, 503, JSON.stringify(body));
    assert.equal(body.error, 'pin_store_unavailable');
    assert.equal(payments(), before, "the refused create reached no backend");
  } finally {
    sentinel.resumeReplica();
  }
  const again = await create(g, 'v2');
  const q = await call(g, 'GET', `/api/v2/payments/${again.id}`);
  await q.arrayBuffer();
  assert.equal(q.status, 200, 'with the replica back, creates go through again');
  assert.equal(q.headers.get('x-cutover-reason'), 'pinned');
});

test('behind Sentinel, a failover refuses follow-ups it cannot place with 503 while the master is gone, then serves them all from the promoted replica', async () => {
  const g = await gateway({ ...sentinel.connection, keyPrefix: 'topo-sentinel:', commandTimeoutMs: 250 }, 0);
  // A payment on each backend: legacy ids match no idPattern, so only their pin can place them.
  const made = [await create(g, 'v2')];
  for (let i = 0; i < 30 && !(made.some((m) => m.backend === 'legacy') && made.filter((m) => m.backend === 'next').length > 1); i++) made.push(await create(g, 'v1'));
  const onLegacy = made.find((m) => m.backend === 'legacy')!;
  assert.ok(onLegacy, 'the split put a payment on legacy');

  // Replication is asynchronous: wait until the replica holds everything the master has, then crash the master.
  const offset = (port: number, field: string) => Number(redisCli(port, 'info', 'replication').match(new RegExp(`${field}:(\\d+)`))?.[1]);
  const caughtUp = () => offset(sentinel.replicaPort, 'slave_repl_offset') >= offset(sentinel.masterPort, 'master_repl_offset');
  for (let i = 0; i < 100 && !caughtUp(); i++) await sleep(20);
  assert.ok(caughtUp(), 'the replica holds everything the master has');
  await sentinel.killMaster();

  const during = await call(g, 'GET', `/api/v1/payments/${onLegacy.id}`);
  const duringBody = await during.json() as { error?: string };
  assert.equal(during.status, 503, `no store: the follow-up is refused, not guessed (${during.status} ${JSON.stringify(duringBody)})`);
  assert.equal(duringBody.error, 'pin_store_unavailable');
  // A next id is placed by its shape (SPEC: an idPattern entry needs no store).
  const byShape = await call(g, 'GET', `/api/v2/payments/${made[0].id}`);
  await byShape.arrayBuffer();
  assert.equal(byShape.status, 200);
  assert.equal(byShape.headers.get('x-cutover-reason'), 'unpinned');

  for (let i = 0; i < 150 && sentinel.currentMasterPort() !== sentinel.replicaPort; i++) await sleep(100);
  assert.equal(sentinel.currentMasterPort(), sentinel.replicaPort, 'the Sentinel promoted the replica');

  // Once the client has found the new master, every pin made before the crash is there.
  let status = 0;
  for (let i = 0; i < 100 && status !== 200; i++) {
    const r = await call(g, 'GET', `/api/v1/payments/${onLegacy.id}`);
    await r.arrayBuffer();
    status = r.status;
    if (status !== 200) await sleep(100);
  }
  assert.equal(status, 200, 'follow-ups are served again after the failover');
  for (const p of made) {
    const r = await call(g, 'GET', `/api/v1/payments/${p.id}`);
    assert.equal(r.status, 200, await r.text());
    assert.equal(r.headers.get('x-cutover-backend'), p.backend);
    assert.equal(r.headers.get('x-cutover-reason'), 'pinned');
  }
  const later = await create(g, 'v1');
  const r = await call(g, 'GET', `/api/v1/payments/${later.id}`);
  await r.arrayBuffer();
  assert.equal(r.status, 200, 'a payment made after the failover is pinned on the new master');
  assert.equal(r.headers.get('x-cutover-reason'), 'pinned');
});
