import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from './helpers/redis.ts';
import { ADMIN_TOKEN, orderId, startBackends, startGateway, testConfig, v1Create, type Backends, type RunningGateway } from './helpers/stack.ts';
import type { Ruleset } from '../gateway/rules.ts';

const SPLIT_RULES: Ruleset = {
  rules: [
    { name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' },
    { name: 'v1-canary', match: { apiVersion: 'v1' }, split: [{ backend: 'next', weight: 0 }, { backend: 'legacy', weight: 100 }], stickyBy: 'order' },
  ],
  default: 'legacy',
};

let redis: TestRedis;
let backends: Backends;
let prefixSeq = 0;
before(async () => { redis = await startRedis(); backends = await startBackends(); });
after(async () => { await backends.close(); await redis.close(); });
beforeEach(() => { backends.next.controls.failRate = 0; backends.next.controls.latencyMs = 0; });

async function gateway(prefix: string): Promise<RunningGateway> {
  return startGateway(testConfig(backends.urls, {}, SPLIT_RULES), { redisUrl: redis.url, keyPrefix: prefix, canaryTickMs: 50 });
}

const admin = (gw: RunningGateway, method: string, path: string, body?: unknown) =>
  fetch(`${gw.adminUrl}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

const canarySpec = (over: Record<string, unknown> = {}) => ({
  rule: 'v1-canary', backend: 'next', steps: [10, 50, 100], stepSeconds: 0.4,
  gates: { max5xxRatio: 0.05, maxP99Ms: 800, minRequests: 10 }, onFail: 'rollback', ...over,
});

/** Steady v1 creates with fresh order numbers until `stop()`; returns the count sent. */
function traffic(gw: RunningGateway) {
  let running = true;
  let sent = 0;
  const loop = (async () => {
    while (running) {
      const r = await fetch(`${gw.url}/api/v1/payments`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-C' }, body: JSON.stringify(v1Create(orderId('C'))) });
      await r.arrayBuffer();
      sent++;
    }
  })();
  return { async stop() { running = false; await loop; return sent; } };
}

async function waitForState(gw: RunningGateway, states: string[], timeoutMs = 15_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = await (await admin(gw, 'GET', '/admin/canary')).json();
    if (states.includes(s.state)) return s;
    if (Date.now() > until) throw new Error(`canary stayed ${s.state}: ${JSON.stringify(s.history)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a healthy rollout walks every step to 100 %, each step a ruleset version by actor canary', async () => {
  const gw = await gateway(`c${prefixSeq++}:`);
  const load = traffic(gw);
  try {
    assert.equal((await admin(gw, 'PUT', '/admin/canary', canarySpec())).status, 201);
    const done = await waitForState(gw, ['completed', 'rolled_back', 'paused']);
    assert.equal(done.state, 'completed', JSON.stringify(done.history));
    assert.equal(done.weight, 100);
    const rules = await (await admin(gw, 'GET', '/admin/rules')).json();
    assert.deepEqual(rules.rules[1].split, [{ backend: 'next', weight: 100 }, { backend: 'legacy', weight: 0 }]);
    const history = (await (await admin(gw, 'GET', '/admin/rules/history')).json()).versions;
    assert.deepEqual(history.filter((v: any) => v.updatedBy === 'canary').length, 3);
  } finally { await load.stop(); await gw.close(); }
});

test('a failing target is rolled back to 0 % with the reason recorded; pinned follow-ups still reach it', async () => {
  const gw = await gateway(`c${prefixSeq++}:`);
  // A transaction created on next before the rollout fails must stay on next.
  await admin(gw, 'PUT', '/admin/merchants/M-PIN', { backend: 'next' });
  const created = await (await fetch(`${gw.url}/api/v1/payments`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-PIN' }, body: JSON.stringify(v1Create(orderId('P'))) })).json();
  await admin(gw, 'DELETE', '/admin/merchants/M-PIN');
  const load = traffic(gw);
  try {
    backends.next.controls.failRate = 1;
    assert.equal((await admin(gw, 'PUT', '/admin/canary', canarySpec({ steps: [50, 100], stepSeconds: 5 }))).status, 201);
    const done = await waitForState(gw, ['rolled_back', 'completed']);
    assert.equal(done.state, 'rolled_back');
    assert.equal(done.weight, 0);
    assert.match(done.history.at(-1).reason, /5xx ratio/);
    const rules = await (await admin(gw, 'GET', '/admin/rules')).json();
    assert.equal(rules.rules[1].split[0].weight, 0);
    backends.next.controls.failRate = 0;
    const follow = await fetch(`${gw.url}/api/v1/payments/${created.trade_no}`, { headers: { 'x-merchant-id': 'M-PIN' } });
    // next's breaker may still be open from the failures: then 503, but never another backend.
    if (follow.status !== 200) {
      assert.equal(follow.status, 503);
      assert.equal((await follow.json()).error, 'backend_unavailable');
    }
    assert.equal(follow.headers.get('x-cutover-backend'), 'next');
    assert.equal(follow.headers.get('x-cutover-reason'), 'pinned');
  } finally { await load.stop(); await gw.close(); }
});

test('too little traffic holds a step rather than passing it', async () => {
  const gw = await gateway(`c${prefixSeq++}:`);
  try {
    assert.equal((await admin(gw, 'PUT', '/admin/canary', canarySpec({ stepSeconds: 0.2, gates: { max5xxRatio: 0.05, maxP99Ms: 800, minRequests: 1000 } }))).status, 201);
    await new Promise((r) => setTimeout(r, 800));
    const s = await (await admin(gw, 'GET', '/admin/canary')).json();
    assert.equal(s.state, 'running');
    assert.equal(s.step, 0);
    assert.equal(s.holding, true);
    assert.ok(s.history.some((h: any) => h.action === 'hold'));
  } finally { await admin(gw, 'POST', '/admin/canary/abort'); await gw.close(); }
});

test('pause holds the weight, resume continues, abort restores the split; bad specs are 400 with details', async () => {
  const gw = await gateway(`c${prefixSeq++}:`);
  try {
    const bad = await admin(gw, 'PUT', '/admin/canary', { ...canarySpec(), rule: 'v2-to-next', steps: [50, 10] });
    assert.equal(bad.status, 400);
    const badBody = await bad.json();
    assert.equal(badBody.error, 'invalid_canary');
    assert.ok(badBody.details.length >= 1);
    assert.equal((await admin(gw, 'PUT', '/admin/canary', canarySpec({ stepSeconds: 60 }))).status, 201);
    assert.equal((await admin(gw, 'PUT', '/admin/canary', canarySpec())).status, 409);
    assert.equal((await (await admin(gw, 'POST', '/admin/canary/pause')).json()).state, 'paused');
    assert.equal((await admin(gw, 'POST', '/admin/canary/pause')).status, 409);
    assert.equal((await (await admin(gw, 'POST', '/admin/canary/resume')).json()).state, 'running');
    let metrics = '';
    for (let i = 0; i < 40 && !/cutover_canary_weight_ratio\{rule="v1-canary",backend="next"\} 0.1/.test(metrics); i++) {
      await new Promise((r) => setTimeout(r, 50));
      metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    }
    assert.match(metrics, /cutover_canary_weight_ratio\{rule="v1-canary",backend="next"\} 0.1/);
    assert.match(metrics, /cutover_canary_step\{rule="v1-canary",backend="next"\} 0/);
    const aborted = await (await admin(gw, 'POST', '/admin/canary/abort')).json();
    assert.equal(aborted.state, 'aborted');
    const rules = await (await admin(gw, 'GET', '/admin/rules')).json();
    assert.deepEqual(rules.rules[1].split, SPLIT_RULES.rules[1].split);
  } finally { await gw.close(); }
});

test('the driving instance dies mid-rollout and another continues', async () => {
  const prefix = `c${prefixSeq++}:`;
  const a = await gateway(prefix);
  const loadA = traffic(a);
  let b: RunningGateway | undefined;
  let loadB: ReturnType<typeof traffic> | undefined;
  try {
    assert.equal((await admin(a, 'PUT', '/admin/canary', canarySpec({ steps: [10, 20, 30, 100], stepSeconds: 0.5 }))).status, 201);
    const until = Date.now() + 10_000;
    while ((await (await admin(a, 'GET', '/admin/canary')).json()).step < 1) {
      if (Date.now() > until) throw new Error('first step never passed');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(a.gw.canary.driving, true, 'the only instance drives');
    b = await gateway(prefix);
    loadB = traffic(b);
    // A crash: a's controller stops without giving the lease up; b must wait for it to expire, then drive.
    await a.gw.canary.stop({ releaseLease: false });
    const done = await waitForState(b, ['completed', 'rolled_back', 'paused'], 20_000);
    assert.equal(done.state, 'completed', JSON.stringify(done.history));
    assert.equal(b.gw.canary.driving, true);
  } finally {
    await loadA.stop(); await loadB?.stop();
    await a.close(); await b?.close();
  }
});
