import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RULES, routeV1Create, type Routed, type RunningGateway } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';
import { useGateways } from './helpers/gateways.ts';

const CONVERGE_MS = 2000;
// No periodic re-read within the test: only pub/sub can carry the change.
let a: RunningGateway;
let b: RunningGateway;
useGateways(() => ({ overrides: { redis: { refreshSeconds: 3600 } }, onStarted: (gws) => { [a, b] = gws; } }));

/**
 * Sends creates to `gw` until one is routed as `expected` (backend, reason and rules version);
 * logs how long that took. Fails after CONVERGE_MS.
 */
async function until(t: TestContext, what: string, gw: RunningGateway, merchant: string, expected: Routed): Promise<void> {
  const started = performance.now();
  for (;;) {
    const r = await routeV1Create(gw, merchant);
    const ms = performance.now() - started;
    if (r.backend === expected.backend && r.reason === expected.reason && r.version === expected.version) {
      t.diagnostic(`${what}: converged after ${ms.toFixed(1)} ms`);
      return;
    }
    assert.ok(ms < CONVERGE_MS, `${what}: not converged after ${CONVERGE_MS} ms (last answer ${JSON.stringify(r)}, expected ${JSON.stringify(expected)})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a rules PUT through A is live on A when it answers and reaches B within 2 s', async (t) => {
  const start = await routeV1Create(b, 'M-P1');
  assert.deepEqual([start.backend, start.reason, start.version], ['legacy', 'default', 1]);

  const put = await admin(a, 'PUT', '/admin/rules', {
    rules: [...DEFAULT_RULES.rules, { name: 'v1-to-next', match: { apiVersion: 'v1' }, backend: 'next' }], default: 'legacy',
  });
  assert.equal(put.status, 200);
  assert.deepEqual(await routeV1Create(a, 'M-P1'), { backend: 'next', reason: 'rule:v1-to-next', version: put.body.version }, 'live on the writer at once');

  await until(t, 'rules PUT A→B', b, 'M-P1', { backend: 'next', reason: 'rule:v1-to-next', version: put.body.version });
  assert.equal((await admin(b, 'GET', '/admin/rules')).body.version, put.body.version);
});

test('a merchant flag set through A routes that merchant on B; removing it through B reverts A', async (t) => {
  // v1 goes to next by rule now; flag a merchant back to legacy.
  assert.equal((await routeV1Create(b, 'M-PF')).backend, 'next');
  assert.equal((await admin(a, 'PUT', '/admin/merchants/M-PF', { backend: 'legacy' })).status, 200);
  await until(t, 'flag set A→B', b, 'M-PF', { backend: 'legacy', reason: 'merchant-flag', version: 2 });
  assert.equal((await routeV1Create(b, 'M-OTHER')).backend, 'next', 'only the flagged merchant moves');

  assert.equal((await admin(b, 'DELETE', '/admin/merchants/M-PF')).status, 200);
  await until(t, 'flag delete B→A', a, 'M-PF', { backend: 'next', reason: 'rule:v1-to-next', version: 2 });
});

test('a rollback through B reaches A', async (t) => {
  const rb = await admin(b, 'POST', '/admin/rules/rollback', { version: 1 });
  assert.equal(rb.status, 200);
  await until(t, 'rollback B→A', a, 'M-P3', { backend: 'legacy', reason: 'default', version: rb.body.version });
});
