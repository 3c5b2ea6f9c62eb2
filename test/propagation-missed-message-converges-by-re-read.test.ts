import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RULES, routeV1Create, type RunningGateway } from './helpers/stack.ts';
import { useGateways, type ConfigEdit } from './helpers/gateways.ts';

// A never re-reads on its own within the test; B re-reads every 200 ms.
const refreshEvery = (seconds: number): ConfigEdit => (raw) => ({ ...raw, redis: { refreshSeconds: seconds } });
let a: RunningGateway;
let b: RunningGateway;
useGateways(() => ({ instances: [refreshEvery(3600), refreshEvery(0.2)], onStarted: (gws) => { [a, b] = gws; } }));

async function eventually<T>(probe: () => Promise<T>, done: (v: T) => boolean, withinMs: number): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  for (;;) {
    const value = await probe();
    const ms = performance.now() - started;
    if (done(value)) return { value, ms };
    assert.ok(ms < withinMs, `not converged after ${withinMs} ms: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('rules written to the store without a notification reach B by its periodic re-read; A, which never re-reads, keeps the old ones', async (t) => {
  const stored = await a.store.putRules(
    { rules: [...DEFAULT_RULES.rules, { name: 'v1-to-next', match: { apiVersion: 'v1' }, backend: 'next' }], default: 'legacy' },
    { actor: 'test', comment: 'written without publishing', now: new Date() },
  );
  assert.equal(stored.version, 2);
  const expected = { backend: 'next', reason: 'rule:v1-to-next', version: 2 };
  const { ms } = await eventually(() => routeV1Create(b, 'M-RR'), (r) => JSON.stringify(r) === JSON.stringify(expected), 2000);
  t.diagnostic(`B re-read the rules after ${ms.toFixed(0)} ms`);
  assert.deepEqual(await routeV1Create(a, 'M-RR'), { backend: 'legacy', reason: 'default', version: 1 }, 'no message was published');
});

test('a merchant flag written to the store without a notification reaches B by its periodic re-read', async (t) => {
  await a.store.putFlag({ merchant: 'M-RRF', backend: 'legacy', updatedAt: new Date().toISOString(), updatedBy: 'test' });
  const { ms } = await eventually(() => routeV1Create(b, 'M-RRF'), (r) => r.reason === 'merchant-flag' && r.backend === 'legacy', 2000);
  t.diagnostic(`B re-read the flags after ${ms.toFixed(0)} ms`);
  assert.equal((await routeV1Create(b, 'M-NOT-FLAGGED')).backend, 'next');
});
