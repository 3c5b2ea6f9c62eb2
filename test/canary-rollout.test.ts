import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { admin } from './helpers/admin.ts';
import { useGateways } from './helpers/gateways.ts';
import { merchantPost, orderId, v1Create, type RunningGateway } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';
import type { Ruleset } from '../gateway/rules.ts';

const SPLIT_RULES: Ruleset = {
  rules: [
    { name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' },
    { name: 'v1-canary', match: { apiVersion: 'v1' }, split: [{ backend: 'next', weight: 0 }, { backend: 'legacy', weight: 100 }], stickyBy: 'order' },
  ],
  default: 'legacy',
};

// No instance at the start: each test starts its own on a key prefix of its own, so rollouts never meet.
const shared = useGateways(() => ({ instances: 0, rules: SPLIT_RULES, canaryTickMs: 50 }));
let prefixSeq = 0;
const gateway = (prefix = `c${prefixSeq++}:`) => shared.start(undefined, prefix);
beforeEach(() => { shared.backends.next.controls.failRate = 0; shared.backends.next.controls.latencyMs = 0; });

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
      await (await merchantPost(gw, '/api/v1/payments', 'M-C', v1Create(orderId('C')))).arrayBuffer();
      sent++;
    }
  })();
  return { async stop() { running = false; await loop; return sent; } };
}

const canary = async (gw: RunningGateway) => (await admin(gw, 'GET', '/admin/canary')).body;
const waitForState = (gw: RunningGateway, states: string[], timeoutMs = 15_000) =>
  waitFor(() => canary(gw), (s) => states.includes(s.state), { what: `canary state in ${states}`, timeoutMs });
const canarySplit = async (gw: RunningGateway) => (await admin(gw, 'GET', '/admin/rules')).body.rules[1].split;

test('a healthy rollout walks every step to 100 %, each step a ruleset version by actor canary', async () => {
  const gw = await gateway();
  const load = traffic(gw);
  try {
    assert.equal((await admin(gw, 'PUT', '/admin/canary', canarySpec())).status, 201);
    const done = await waitForState(gw, ['completed', 'rolled_back', 'paused']);
    assert.equal(done.state, 'completed', JSON.stringify(done.history));
    assert.equal(done.weight, 100);
    assert.deepEqual(await canarySplit(gw), [{ backend: 'next', weight: 100 }, { backend: 'legacy', weight: 0 }]);
    const history = (await admin(gw, 'GET', '/admin/rules/history')).body.versions;
    assert.deepEqual(history.filter((v: any) => v.updatedBy === 'canary').length, 3);
  } finally { await load.stop(); await shared.close(gw); }
});

test('a failing target is rolled back to 0 % with the reason recorded; pinned follow-ups still reach it', async () => {
  const gw = await gateway();
  // A transaction created on next before the rollout fails must stay on next.
  await admin(gw, 'PUT', '/admin/merchants/M-PIN', { backend: 'next' });
  const created = await (await merchantPost(gw, '/api/v1/payments', 'M-PIN', v1Create(orderId('P')))).json();
  await admin(gw, 'DELETE', '/admin/merchants/M-PIN');
  const load = traffic(gw);
  try {
    shared.backends.next.controls.failRate = 1;
    assert.equal((await admin(gw, 'PUT', '/admin/canary', canarySpec({ steps: [50, 100], stepSeconds: 5 }))).status, 201);
    const done = await waitForState(gw, ['rolled_back', 'completed']);
    assert.equal(done.state, 'rolled_back');
    assert.equal(done.weight, 0);
    assert.match(done.history.at(-1).reason, /5xx ratio/);
    // The rollout's state is written first, then the split (the lease holder writes it again if that fails).
    await waitFor(() => canarySplit(gw), (split) => split[0].weight === 0, { what: 'the split back at 0 %' });
    shared.backends.next.controls.failRate = 0;
    const follow = await fetch(`${gw.url}/api/v1/payments/${created.trade_no}`, { headers: { 'x-merchant-id': 'M-PIN' } });
    // next's breaker may still be open from the failures: then 503, but never another backend.
    if (follow.status !== 200) {
      assert.equal(follow.status, 503);
      assert.equal((await follow.json()).error, 'backend_unavailable');
    }
    assert.equal(follow.headers.get('x-cutover-backend'), 'next');
    assert.equal(follow.headers.get('x-cutover-reason'), 'pinned');
  } finally { await load.stop(); await shared.close(gw); }
});

test('too little traffic holds a step rather than passing it', async () => {
  const gw = await gateway();
  try {
    assert.equal((await admin(gw, 'PUT', '/admin/canary', canarySpec({ stepSeconds: 0.2, gates: { max5xxRatio: 0.05, maxP99Ms: 800, minRequests: 1000 } }))).status, 201);
    const s = await waitFor(() => canary(gw), (c) => c.holding === true || c.state !== 'running' || c.step !== 0, { what: 'the step held' });
    assert.equal(s.state, 'running');
    assert.equal(s.step, 0);
    assert.equal(s.holding, true);
    assert.equal(s.history.at(-1).action, 'hold');
  } finally { await admin(gw, 'POST', '/admin/canary/abort'); await shared.close(gw); }
});

test('a spec on a rule without a split, with decreasing steps, is 400 invalid_canary naming both faults', async () => {
  const gw = await gateway();
  try {
    const bad = await admin(gw, 'PUT', '/admin/canary', { ...canarySpec(), rule: 'v2-to-next', steps: [50, 10] });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'invalid_canary');
    assert.deepEqual(bad.body.details, [
      { path: '/rule', message: 'rule "v2-to-next" has no split' },
      { path: '/steps/1', message: 'steps must increase' },
    ]);
    assert.equal((await canary(gw)).state, 'idle', 'nothing started');
  } finally { await shared.close(gw); }
});

test('a second rollout while one runs is 409', async () => {
  const gw = await gateway();
  try {
    assert.equal((await admin(gw, 'PUT', '/admin/canary', canarySpec({ stepSeconds: 60 }))).status, 201);
    const second = await admin(gw, 'PUT', '/admin/canary', canarySpec());
    assert.equal(second.status, 409);
    assert.equal(second.body.error, 'canary_conflict');
  } finally { await admin(gw, 'POST', '/admin/canary/abort'); await shared.close(gw); }
});

test('pause holds the weight (a second pause is 409) and resume continues; /metrics shows the step and weight', async () => {
  const gw = await gateway();
  try {
    assert.equal((await admin(gw, 'PUT', '/admin/canary', canarySpec({ stepSeconds: 60 }))).status, 201);
    const paused = await admin(gw, 'POST', '/admin/canary/pause');
    assert.equal(paused.body.state, 'paused');
    assert.equal(paused.body.weight, 10);
    assert.equal((await canarySplit(gw))[0].weight, 10, 'a pause keeps the split');
    assert.equal((await admin(gw, 'POST', '/admin/canary/pause')).status, 409);
    assert.equal((await admin(gw, 'POST', '/admin/canary/resume')).body.state, 'running');
    const weight = /cutover_canary_weight_ratio\{rule="v1-canary",backend="next"\} 0.1$/m;
    const metrics = await waitFor(async () => (await fetch(`${gw.adminUrl}/metrics`)).text(), (m) => weight.test(m), { what: 'the canary weight in /metrics', timeoutMs: 2000 });
    assert.match(metrics, /cutover_canary_step\{rule="v1-canary",backend="next"\} 0/);
  } finally { await admin(gw, 'POST', '/admin/canary/abort'); await shared.close(gw); }
});

test('abort restores the split from before the rollout', async () => {
  const gw = await gateway();
  try {
    assert.equal((await admin(gw, 'PUT', '/admin/canary', canarySpec({ stepSeconds: 60 }))).status, 201);
    assert.equal((await canarySplit(gw))[0].weight, 10);
    const aborted = await admin(gw, 'POST', '/admin/canary/abort');
    assert.equal(aborted.body.state, 'aborted');
    assert.deepEqual(await canarySplit(gw), SPLIT_RULES.rules[1].split);
  } finally { await shared.close(gw); }
});

test('the driving instance dies mid-rollout and another continues', async () => {
  const prefix = `c${prefixSeq++}:`;
  const a = await gateway(prefix);
  const loadA = traffic(a);
  let b: RunningGateway | undefined;
  let loadB: ReturnType<typeof traffic> | undefined;
  try {
    assert.equal((await admin(a, 'PUT', '/admin/canary', canarySpec({ steps: [10, 20, 30, 100], stepSeconds: 0.5 }))).status, 201);
    await waitFor(() => canary(a), (s) => s.step >= 1, { what: 'the first step passed', timeoutMs: 10_000 });
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
  }
});
