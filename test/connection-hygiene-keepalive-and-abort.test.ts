import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { orderId, startBackends, startGateway, testConfig, v1Create, type Backends, type RunningGateway } from './helpers/stack.ts';

// Upstream connections are pooled (keep-alive), and a merchant who hangs up takes the
// upstream request down with it instead of leaving the backend working for nobody.

let backends: Backends;
let gw: RunningGateway;
let connections = 0;
const answered: Array<{ path: string; finished: boolean }> = [];
before(async () => {
  backends = await startBackends();
  backends.legacy.server.on('connection', () => { connections++; });
  backends.legacy.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    res.once('close', () => answered.push({ path: req.url ?? '', finished: res.writableFinished }));
  });
  gw = await startGateway(testConfig(backends.urls));
});
after(async () => { backends.legacy.controls.latencyMs = 0; await gw.close(); await backends.close(); });

test('many requests reuse a few upstream connections', async () => {
  const before = connections;
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`${gw.url}/api/v1/echo`, { headers: { 'x-merchant-id': 'M-KA' } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  }
  const batch = await Promise.all(Array.from({ length: 10 }, () => fetch(`${gw.url}/api/v1/echo`, { headers: { 'x-merchant-id': 'M-KA' } })));
  for (const res of batch) { assert.equal(res.status, 200); await res.arrayBuffer(); }
  const opened = connections - before;
  assert.ok(opened >= 1 && opened <= 10, `110 requests opened ${opened} backend connections`);
});

/** Sends a request, hangs up once the backend has it, and waits for the backend to see the close. */
async function hangUpDuringBackendWork(path: string, init: RequestInit): Promise<{ finished: boolean }> {
  backends.legacy.controls.latencyMs = 1000;
  const before = backends.legacy.state.requests;
  const seen = answered.length;
  const controller = new AbortController();
  const sent = fetch(`${gw.url}${path}`, { ...init, signal: controller.signal }).catch((err: Error) => err.name);
  while (backends.legacy.state.requests === before) await new Promise((r) => setTimeout(r, 5));
  controller.abort();
  assert.equal(await sent, 'AbortError');
  while (answered.length === seen) await new Promise((r) => setTimeout(r, 5));
  backends.legacy.controls.latencyMs = 0;
  return { finished: answered[seen].finished };
}

test('a merchant who hangs up mid-request aborts the upstream request (streamed call)', async () => {
  const { finished } = await hangUpDuringBackendWork('/api/v1/echo', { headers: { 'x-merchant-id': 'M-ABORT' } });
  assert.equal(finished, false, 'the backend saw the request close before it answered');
});

test('a merchant who hangs up mid-create does not abort it: the backend may be making the payment, whose id must be pinned', async () => {
  const { finished } = await hangUpDuringBackendWork('/api/v1/payments', {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-ABORT' }, body: JSON.stringify(v1Create(orderId())),
  });
  assert.equal(finished, true);
});

test('a hang-up is not a backend fault: the gateway keeps serving', async () => {
  const res = await fetch(`${gw.url}/api/v1/echo`, { headers: { 'x-merchant-id': 'M-ABORT' } });
  assert.equal(res.status, 200);
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  assert.match(metrics, /cutover_breaker_state\{backend="legacy",state="closed"\} 1/);
});
