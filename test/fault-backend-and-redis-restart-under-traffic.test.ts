import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { orderId, v1Create, v2Create, type RunningGateway } from './helpers/stack.ts';
import { noPinCache, useGateways, withBreaker } from './helpers/gateways.ts';
import { listen } from '../gateway/data/server.ts';

// Steady traffic through two instances on one Redis while the legacy backend is killed and
// restarted on its port, then Redis is stopped and started. Every answer is the backend's or
// a coded 5xx of the gateway; it recovers by itself; no follow-up reaches the wrong backend.
// Instance B caches no pins, so each of its follow-ups depends on the store.

const GATEWAY_CODES = new Set(['backend_unavailable', 'backend_timeout', 'backend_unreachable', 'backend_error', 'pin_store_unavailable']);
const BREAKER = { volumeThreshold: 5, errorThresholdPercentage: 50, resetTimeoutMs: 300, rollingCountTimeoutMs: 2000 };

let a: RunningGateway;
let b: RunningGateway;
const shared = useGateways(() => ({ instances: [withBreaker(BREAKER), (raw: Record<string, unknown>) => noPinCache(withBreaker(BREAKER)(raw))], onStarted: (gws) => { [a, b] = gws; } }));

interface Txn { version: 'v1' | 'v2'; id: string; order: string; backend: string; createdAt: number }
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Asks Redis to write its snapshot (the test server runs without persistence), so a restart keeps the pins. */
function redisSave(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write('SAVE\r\n'));
    s.once('data', (d) => { s.destroy(); if (d.toString().startsWith('+OK')) resolve(); else reject(new Error(d.toString())); });
    s.once('error', reject);
  });
}

test('backend and Redis restarts under traffic: coded 5xx or the right backend, then recovery', async () => {
  const txns: Txn[] = [];
  const problems: string[] = [];
  const outcomes = new Map<string, number>();
  let savedAt = Infinity;
  let stop = false;
  const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);

  /** Judges one answer: the backend's success, or a coded gateway 5xx; anything else is a problem. */
  async function judge(what: string, res: Response, expectBackend?: string): Promise<Record<string, unknown> | undefined> {
    const body = await res.json().catch(() => undefined) as Record<string, unknown> | undefined;
    if (res.status === 200 || res.status === 201) {
      const answeredBy = res.headers.get('x-backend');
      if (expectBackend !== undefined && answeredBy !== expectBackend) problems.push(`${what}: answered by ${answeredBy}, pinned to ${expectBackend}`);
      count('ok');
      return body;
    }
    if (res.status >= 500 && GATEWAY_CODES.has(String(body?.error)) && res.headers.get('x-backend') === null) { count(String(body!.error)); return undefined; }
    problems.push(`${what}: ${res.status} ${JSON.stringify(body)}`);
    return undefined;
  }

  async function createOne(gw: RunningGateway): Promise<void> {
    const version = Math.random() < 0.5 ? 'v1' : 'v2';
    const order = orderId('F');
    const res = await fetch(`${gw.url}/api/${version}/payments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-FAULT', ...(version === 'v2' ? { 'idempotency-key': order } : {}) },
      body: JSON.stringify(version === 'v1' ? v1Create(order) : v2Create(order)),
    });
    const body = await judge(`create ${version}`, res);
    if (body) txns.push({ version, order, id: String(version === 'v1' ? body.trade_no : body.id), backend: res.headers.get('x-backend')!, createdAt: Date.now() });
  }

  async function followOne(gw: RunningGateway): Promise<void> {
    // Pins written after the snapshot are lost with the restart of a Redis without persistence:
    // that is the test server's doing, not an outage the gateway must survive, so they are skipped.
    const known = txns.filter((t) => t.createdAt < savedAt || t.createdAt > savedAt + 5000);
    if (known.length === 0) return;
    const t = known[Math.floor(Math.random() * known.length)];
    const byOrder = Math.random() < 0.5;
    const field = t.version === 'v1' ? 'out_trade_no' : 'merchantOrderId';
    const path = byOrder ? `/api/${t.version}/payments?${field}=${t.order}` : `/api/${t.version}/payments/${t.id}`;
    await judge(`follow-up ${path}`, await fetch(`${gw.url}${path}`, { headers: { 'x-merchant-id': 'M-FAULT' } }), t.backend);
  }

  const worker = async (i: number) => {
    while (!stop) {
      const gw = i % 2 === 0 ? a : b;
      try {
        if (Math.random() < 0.4) await createOne(gw); else await followOne(gw);
      } catch (err) {
        problems.push(`transport: ${(err as Error).message}`);
      }
    }
  };
  const workers = [0, 1, 2, 3].map(worker);

  const legacyPort = Number(new URL(shared.backends.urls.legacy).port);
  await sleep(400);
  shared.backends.legacy.server.closeAllConnections();
  await new Promise((r) => shared.backends.legacy.server.close(r));
  await sleep(600);
  await listen(shared.backends.legacy.server, legacyPort, '127.0.0.1');
  await sleep(400);
  savedAt = Date.now();
  await redisSave(shared.redis.port);
  await shared.redis.stop();
  await sleep(700);
  await shared.redis.start();

  // Recovery: within a few seconds, creates and follow-ups through both instances succeed again.
  const until = Date.now() + 5000;
  let recovered = false;
  while (!recovered && Date.now() < until) {
    await sleep(200);
    const probe = await Promise.all([a, b].flatMap((gw) => [
      fetch(`${gw.url}/api/v1/payments`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-FAULT' }, body: JSON.stringify(v1Create(orderId('R'))) }),
      fetch(`${gw.url}/api/v2/payments`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-FAULT', 'idempotency-key': orderId('RK') }, body: JSON.stringify(v2Create(orderId('R'))) }),
    ]));
    recovered = probe.every((r) => r.status === 200 || r.status === 201);
    await Promise.all(probe.map((r) => r.arrayBuffer()));
  }
  await sleep(300);
  stop = true;
  await Promise.all(workers);

  assert.deepEqual(problems, [], 'every answer was the right backend or a coded gateway 5xx');
  assert.ok(recovered, `recovered without help; outcomes ${JSON.stringify([...outcomes])}`);
  assert.ok((outcomes.get('ok') ?? 0) > 50, `steady traffic went through (${JSON.stringify([...outcomes])})`);
  const refusals = [...outcomes.keys()].filter((k) => k !== 'ok');
  assert.ok(refusals.some((k) => k.startsWith('backend_')), `the backend outage was seen: ${refusals}`);
  assert.ok(refusals.includes('pin_store_unavailable'), `the store outage was seen: ${refusals}`);
});
