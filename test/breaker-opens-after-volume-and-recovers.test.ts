import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBackends, startGateway, testConfig, type Backends, type RunningGateway } from './helpers/stack.ts';
import { logSink, type LogSink } from './helpers/log-sink.ts';

// SPEC 7: an opossum breaker per backend; it opens on the error rate once the minimum volume
// is reached, answers 503 backend_unavailable with Retry-After while open, counts only
// backend faults, and closes again after its reset timeout once the backend recovers.

const BREAKER = { volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeoutMs: 400, rollingCountTimeoutMs: 10_000 };

interface Instance extends RunningGateway { logs: LogSink }

/** A gateway whose log lines are kept, with the small breaker on legacy. */
async function startInstance(backends: Backends): Promise<Instance> {
  const logs = logSink();
  const raw = testConfig(backends.urls, { logLevel: 'info' });
  const cfg = raw.backends as Record<string, Record<string, unknown>>;
  const gw = await startGateway({ ...raw, backends: { ...cfg, legacy: { ...cfg.legacy, breaker: BREAKER } } }, { logTo: logs.stream });
  return Object.assign(gw, { logs });
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
const stateLogs = (gw: Instance) => gw.logs.records().filter((l) => l.msg === 'circuit breaker state changed' && l.backend === 'legacy').map((l) => l.state);

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
