import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { orderId, startBackends, startGateway, testConfig, v1Create, type Backends, type RunningGateway } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';
import type { Ruleset } from '../gateway/rules.ts';
import type { Store } from '../gateway/store/types.ts';

const ORIGINAL = [{ backend: 'next', weight: 0 }, { backend: 'legacy', weight: 100 }];
const SPLIT_RULES: Ruleset = {
  rules: [
    { name: 'v1-canary', match: { apiVersion: 'v1' }, split: ORIGINAL, stickyBy: 'order' },
    { name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' },
  ],
  default: 'legacy',
};

let backends: Backends;
before(async () => { backends = await startBackends(); });
after(async () => { await backends.close(); });

// Controller rounds are driven by the test (tick()), so that each interleaving is exact.
const gateway = () => startGateway(testConfig(backends.urls, {}, SPLIT_RULES), { canaryTickMs: 3_600_000 });

const liveRules = async (gw: RunningGateway) => (await admin(gw, 'GET', '/admin/rules')).body;

const spec = (stepSeconds: number) => ({
  rule: 'v1-canary', backend: 'next', steps: [50, 90], stepSeconds,
  gates: { max5xxRatio: 0.5, maxP99Ms: 5000, minRequests: 1 }, onFail: 'rollback',
});

type PutRules = Store['putRules'];
/** Replaces the gateway store's putRules with `wrap(real)`. */
function interceptPutRules(gw: RunningGateway, wrap: (real: PutRules) => PutRules): void {
  const store = gw.store as { putRules: PutRules };
  store.putRules = wrap(store.putRules.bind(store));
}

test('a step write that lands after an abort does not undo it: the split stays as before the rollout', async () => {
  const gw = await gateway();
  let reached!: () => void;
  const stepReached = new Promise<void>((r) => { reached = r; });
  let release!: () => void;
  const held = new Promise<void>((r) => { release = r; });
  interceptPutRules(gw, (real) => async (ruleset, meta) => {
    // The controller's write of step 2 is held until the abort has landed.
    if (meta.comment?.includes('step 2 of')) { reached(); await held; }
    return real(ruleset, meta);
  });
  try {
    assert.equal((await admin(gw, 'PUT', '/admin/canary', spec(0.1))).status, 201);
    assert.equal((await liveRules(gw)).rules[0].split[0].weight, 50);
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${gw.url}/api/v1/payments`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-LATE' }, body: JSON.stringify(v1Create(orderId('L'))) });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
    await new Promise((r) => setTimeout(r, 150)); // the step window is over
    const round = gw.gw.canary.tick();
    await stepReached;

    const aborted = await admin(gw, 'POST', '/admin/canary/abort');
    assert.equal(aborted.status, 200);
    assert.equal(aborted.body.state, 'aborted');
    assert.deepEqual((await liveRules(gw)).rules[0].split, ORIGINAL);

    release();
    await round; // the held step write has now landed or given up
    const rules = await liveRules(gw);
    assert.deepEqual(rules.rules[0].split, ORIGINAL, `the late step write undid the abort: ${JSON.stringify(rules.rules[0].split)}`);
    const routed = await fetch(`${gw.url}/api/v1/payments`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-LATE' }, body: JSON.stringify(v1Create(orderId('L'))) });
    await routed.arrayBuffer();
    assert.equal(routed.headers.get('x-cutover-backend'), 'legacy');
    assert.equal((await admin(gw, 'GET', '/admin/canary')).body.state, 'aborted');
  } finally { release(); await gw.close(); }
});

test('an abort whose ruleset write failed is written by the next controller round', async () => {
  const gw = await gateway();
  let failures = 0;
  interceptPutRules(gw, (real) => async (ruleset, meta) => {
    if (meta.comment?.includes('aborted by') && failures++ === 0) throw new Error('injected store failure');
    return real(ruleset, meta);
  });
  try {
    assert.equal((await admin(gw, 'PUT', '/admin/canary', spec(60))).status, 201);
    const aborted = await admin(gw, 'POST', '/admin/canary/abort');
    assert.equal(aborted.status, 503);
    assert.equal(aborted.body.error, 'store_unavailable');
    assert.match(aborted.body.message, /aborted, but the split could not be restored yet/);
    assert.equal((await admin(gw, 'GET', '/admin/canary')).body.state, 'aborted', 'the abort itself is stored');
    assert.equal((await liveRules(gw)).rules[0].split[0].weight, 50, 'the rule still has the step weight');

    await gw.gw.canary.tick();
    const rules = await liveRules(gw);
    assert.deepEqual(rules.rules[0].split, ORIGINAL);
    assert.equal(rules.updatedBy, 'canary');
    assert.match(rules.comment, /reconciled/);
    const versions = (await admin(gw, 'GET', '/admin/rules/history')).body.versions.length;
    await gw.gw.canary.tick();
    assert.equal((await admin(gw, 'GET', '/admin/rules/history')).body.versions.length, versions, 'once in line, no further versions');
  } finally { await gw.close(); }
});

test("an operator's change after a failed abort write stands: the controller never overrides it", async () => {
  const gw = await gateway();
  interceptPutRules(gw, (real) => async (ruleset, meta) => {
    if (meta.comment?.includes('aborted by')) throw new Error('injected store failure');
    return real(ruleset, meta);
  });
  try {
    assert.equal((await admin(gw, 'PUT', '/admin/canary', spec(60))).status, 201);
    assert.equal((await admin(gw, 'POST', '/admin/canary/abort')).status, 503);
    const mine = [{ backend: 'next', weight: 20 }, { backend: 'legacy', weight: 80 }];
    const put = await admin(gw, 'PUT', '/admin/rules', { ...SPLIT_RULES, rules: [{ ...SPLIT_RULES.rules[0], split: mine }, SPLIT_RULES.rules[1]], comment: 'by hand' });
    assert.equal(put.status, 200);

    await gw.gw.canary.tick();
    await gw.gw.canary.tick();
    const rules = await liveRules(gw);
    assert.equal(rules.version, put.body.version);
    assert.equal(rules.updatedBy, 'ops');
    assert.deepEqual(rules.rules[0].split, mine);
  } finally { await gw.close(); }
});
