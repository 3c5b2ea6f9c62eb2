import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useGateways } from './helpers/gateways.ts';
import {
  ADMIN_TOKEN, READONLY_TOKEN, orderId, startGateway, testConfig, v1Create, v2Create, type RunningGateway,
} from './helpers/stack.ts';

// Issue 17: the console's overview reads per-backend traffic of the last 15 minutes, all instances.

const instances = useGateways();

const read = async (gw: RunningGateway, path: string, token = ADMIN_TOKEN) => {
  const res = await fetch(`${gw.adminUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json() };
};
const post = (gw: RunningGateway, path: string, body: unknown, headers: Record<string, string> = {}) => fetch(`${gw.url}${path}`, {
  method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-TRAFFIC', ...headers }, body: JSON.stringify(body),
}).then(async (r) => { await r.arrayBuffer(); return r.status; });

const legacyOf = (body: any) => body.backends.find((x: any) => x.backend === 'legacy');
/** Reads /admin/traffic until `done` holds (counts reach the store within a second), for at most 5 s. */
async function readUntil(gw: RunningGateway, token: string, done: (body: any) => boolean): Promise<any> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const { status, body } = await read(gw, '/admin/traffic', token);
    assert.equal(status, 200);
    if (done(body) || Date.now() > deadline) return body;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('whoami names the token and says whether it may write; no token is 401', async () => {
  const [a] = instances.gws;
  assert.deepEqual((await read(a, '/admin/whoami')).body, { name: 'ops', readOnly: false });
  assert.deepEqual((await read(a, '/admin/whoami', READONLY_TOKEN)).body, { name: 'viewer', readOnly: true });
  const res = await fetch(`${a.adminUrl}/admin/traffic`);
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error, 'unauthorized');
});

test('traffic answered by two instances is summed per backend, with error ratio, p99 and breaker', async () => {
  const [a, b] = instances.gws;
  for (const gw of [a, b]) {
    for (let i = 0; i < 3; i++) assert.equal(await post(gw, '/api/v1/payments', v1Create(orderId())), 200);
    assert.equal(await post(gw, '/api/v2/payments', v2Create(orderId()), { 'idempotency-key': orderId('k') }), 201);
  }
  // A follow-up for a transaction that the backend does not know: a 4xx answer, not an error of the backend.
  const res = await fetch(`${a.url}/api/v1/payments/T_NOT_THERE`, { headers: { 'x-merchant-id': 'M-TRAFFIC' } });
  await res.arrayBuffer();
  assert.equal(res.status, 404);

  // Each instance flushes its counts to the store within a second; read through B until both are in.
  const body = await readUntil(b, READONLY_TOKEN, (x) => legacyOf(x).requests >= 7);
  assert.equal(body.windowSeconds, 900);
  const by = Object.fromEntries(body.backends.map((x: any) => [x.backend, x]));
  assert.equal(by.legacy.requests, 7);
  assert.equal(by.next.requests, 2);
  assert.equal(by.legacy.errorRatio, 0);
  assert.ok(by.legacy.p99Ms > 0 && by.legacy.p99Ms <= 2500, `p99 ${by.legacy.p99Ms}`);
  assert.ok(by.legacy.rps > 0 && by.legacy.rpsLastMinute >= by.legacy.rps);
  assert.equal(by.legacy.breaker, 'closed');
  assert.equal(body.series.time.length, body.series.rps.legacy.length);
  const perSlot = body.series.rps.legacy.reduce((s: number, v: number) => s + v, 0);
  assert.ok(perSlot > 0);
});

test('5xx answers of a backend count in its error ratio', async () => {
  // A backend that is down answers 502 through the gateway: the backend's failure, in its ratio.
  const down = await startGateway(testConfig({ legacy: 'http://127.0.0.1:1', next: instances.backends.urls.next }), { redisUrl: instances.redis.url, keyPrefix: 'down:' });
  try {
    assert.equal(await post(down, '/api/v1/payments', v1Create(orderId())), 502);
    const legacy = legacyOf(await readUntil(down, ADMIN_TOKEN, (x) => legacyOf(x).requests >= 1));
    assert.equal(legacy.requests, 1);
    assert.equal(legacy.errorRatio, 1);
  } finally {
    await down.close();
  }
});
