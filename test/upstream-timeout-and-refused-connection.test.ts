import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { orderId, startBackends, startGateway, testConfig, v1Create, type Backends, type RunningGateway } from './helpers/stack.ts';
import { freePort } from './helpers/redis.ts';

// SPEC 7: upstream timeout = 504 backend_timeout; connection failure = 502 backend_unreachable.

let backends: Backends;
let slow: RunningGateway;
let unreachable: RunningGateway;
before(async () => {
  backends = await startBackends();
  const raw = testConfig(backends.urls);
  const cfg = raw.backends as Record<string, Record<string, unknown>>;
  slow = await startGateway({ ...raw, backends: { ...cfg, legacy: { ...cfg.legacy, timeoutMs: 150 } } });
  // Nothing listens on a port freePort() just released.
  const closed = `http://127.0.0.1:${await freePort()}`;
  unreachable = await startGateway({ ...raw, backends: { ...cfg, legacy: { ...cfg.legacy, url: closed } } });
});
after(async () => {
  backends.legacy.controls.latencyMs = 0;
  await slow.close(); await unreachable.close(); await backends.close();
});

const post = (base: string, body: unknown) => fetch(`${base}/api/v1/payments`, {
  method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-UP' }, body: JSON.stringify(body),
});

test('a backend slower than its timeoutMs is 504 backend_timeout, for a create and for a GET', async () => {
  backends.legacy.controls.latencyMs = 500;
  try {
    const created = await post(slow.url, v1Create(orderId()));
    assert.equal(created.status, 504);
    const body = await created.json();
    assert.equal(body.error, 'backend_timeout');
    assert.equal(typeof body.requestId, 'string');
    const before = backends.legacy.state.requests;
    const read = await fetch(`${slow.url}/api/v1/echo`, { headers: { 'x-merchant-id': 'M-UP' } });
    assert.equal(read.status, 504);
    assert.equal((await read.json()).error, 'backend_timeout');
    assert.equal(backends.legacy.state.requests - before, 1, 'a timed-out GET is not retried: the backend may still be at work');
  } finally {
    backends.legacy.controls.latencyMs = 0;
  }
  const fine = await post(slow.url, v1Create(orderId()));
  assert.equal(fine.status, 200, 'answers again once the backend is fast');
});

test('a backend whose port is closed is 502 backend_unreachable, for a create and for a GET', async () => {
  const created = await post(unreachable.url, v1Create(orderId()));
  assert.equal(created.status, 502);
  assert.equal((await created.json()).error, 'backend_unreachable');
  const read = await fetch(`${unreachable.url}/api/v1/echo`, { headers: { 'x-merchant-id': 'M-UP' } });
  assert.equal(read.status, 502);
  assert.equal((await read.json()).error, 'backend_unreachable');
});

test('an unreachable backend does not affect the other one', async () => {
  const res = await fetch(`${unreachable.url}/api/v2/echo`, { headers: { 'x-merchant-id': 'M-UP' } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-cutover-backend'), 'next');
});
