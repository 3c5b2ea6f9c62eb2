import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { startBackends, testConfig, type Backends } from './helpers/stack.ts';
import { buildApp } from '../app/build.ts';
import { buildConfig } from '../gateway/config.ts';
import { createLogger } from '../gateway/log.ts';
import { createServer, listen } from '../gateway/data/server.ts';
import { openStore } from '../gateway/store/open.ts';

// SPEC 7: an opossum breaker per backend; it opens on the error rate once the minimum volume
// is reached, answers 503 backend_unavailable with Retry-After while open, counts only
// backend faults, and closes again after its reset timeout once the backend recovers.

const BREAKER = { volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeoutMs: 400, rollingCountTimeoutMs: 10_000 };

interface Instance { url: string; adminUrl: string; logs: Array<Record<string, unknown>>; close(): Promise<void> }

/** A gateway whose log lines are kept, with the small breaker on legacy. */
async function startInstance(backends: Backends): Promise<Instance> {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(c: Buffer, _e, done) { for (const l of c.toString().split('\n')) if (l) logs.push(JSON.parse(l)); done(); } });
  const raw = testConfig(backends.urls, { logLevel: 'info' });
  const cfg = raw.backends as Record<string, Record<string, unknown>>;
  const config = buildConfig({ ...raw, backends: { ...cfg, legacy: { ...cfg.legacy, breaker: BREAKER } } });
  const log = createLogger(config.logLevel, sink);
  const store = await openStore(config, log);
  const gw = buildApp({ config, store, log });
  await gw.start();
  const servers = [createServer(gw.dataApp, config.limits), createServer(gw.adminApp, config.limits)];
  const [port, adminPort] = [await listen(servers[0], 0, '127.0.0.1'), await listen(servers[1], 0, '127.0.0.1')];
  return {
    url: `http://127.0.0.1:${port}`, adminUrl: `http://127.0.0.1:${adminPort}`, logs,
    async close() {
      for (const s of servers) { s.closeAllConnections(); await new Promise((r) => s.close(r)); }
      await gw.stop();
      await store.close();
    },
  };
}

let backends: Backends;
const instances: Instance[] = [];
before(async () => { backends = await startBackends(); });
after(async () => {
  backends.legacy.controls.failRate = 0;
  for (const i of instances) await i.close();
  await backends.close();
});

const call = (gw: Instance, id = 'echo') => fetch(`${gw.url}/api/v1/${id}`, { headers: { 'x-merchant-id': 'M-BRK' } });
async function breakerState(gw: Instance, backend: string): Promise<string | undefined> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  return /state="(\w+)"\} 1$/m.exec(text.split('\n').filter((l) => l.startsWith(`cutover_breaker_state{backend="${backend}"`)).join('\n'))?.[1];
}
const stateLogs = (gw: Instance) => gw.logs.filter((l) => l.msg === 'circuit breaker state changed' && l.backend === 'legacy').map((l) => l.state);

test("a merchant's 4xx never counts against the backend", async () => {
  const gw = await startInstance(backends);
  instances.push(gw);
  for (let i = 0; i < BREAKER.volumeThreshold * 3; i++) {
    const res = await call(gw, `payments/20261125${String(i).padStart(8, '0')}`);
    assert.equal(res.status, 404, 'legacy holds no such payment');
    assert.equal(res.headers.get('x-cutover-backend'), 'legacy');
    await res.text();
  }
  assert.equal(await breakerState(gw, 'legacy'), 'closed');
  assert.deepEqual(stateLogs(gw), []);
});

test('failures open the breaker only at the minimum volume; then 503 with Retry-After; it closes after recovery', async () => {
  const gw = await startInstance(backends);
  instances.push(gw);
  backends.legacy.controls.failRate = 1;
  for (let i = 1; i < BREAKER.volumeThreshold; i++) {
    const res = await call(gw);
    assert.equal(res.status, 500, `failure ${i} is the backend's own answer`);
    assert.equal((await res.json()).error, 'injected_failure');
    assert.equal(await breakerState(gw, 'legacy'), 'closed', `still closed after ${i} failures (volume ${BREAKER.volumeThreshold})`);
  }
  assert.equal((await call(gw)).status, 500);
  assert.equal(await breakerState(gw, 'legacy'), 'open', 'open once the volume is reached');

  const reached = backends.legacy.state.requests;
  const refused = await call(gw);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('retry-after'), String(Math.ceil(BREAKER.resetTimeoutMs / 1000)));
  const body = await refused.json();
  assert.equal(body.error, 'backend_unavailable');
  assert.equal(typeof body.requestId, 'string');
  assert.equal(backends.legacy.state.requests, reached, 'an open breaker forwards nothing');
  assert.deepEqual(stateLogs(gw), ['open']);

  const next = await fetch(`${gw.url}/api/v2/echo`, { headers: { 'x-merchant-id': 'M-BRK' } });
  assert.equal(next.status, 200, "the other backend's breaker is its own");
  assert.equal(await breakerState(gw, 'next'), 'closed');

  backends.legacy.controls.failRate = 0;
  await new Promise((r) => setTimeout(r, BREAKER.resetTimeoutMs + 100));
  const trial = await call(gw);
  assert.equal(trial.status, 200, 'the half-open trial reaches the recovered backend');
  assert.equal(await breakerState(gw, 'legacy'), 'closed');
  assert.deepEqual(stateLogs(gw), ['open', 'half_open', 'closed']);
  assert.equal((await call(gw)).status, 200);
});
