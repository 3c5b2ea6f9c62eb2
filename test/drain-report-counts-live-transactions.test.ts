import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from './helpers/redis.ts';
import { adminCall, merchantPost, orderId, startBackends, startGateway, testConfig, v1Create, v2Create, type Backends, type RunningGateway } from './helpers/stack.ts';

const DAY = 86_400_000;
const M = 'M-drain';

let redis: TestRedis;
let backends: Backends;
before(async () => { redis = await startRedis(); backends = await startBackends(); });
after(async () => { await backends.close(); await redis.close(); });

async function drain(gw: RunningGateway) {
  const r = await adminCall(gw, 'GET', '/admin/drain');
  assert.equal(r.status, 200);
  return r.json();
}

for (const kind of ['memory', 'redis'] as const) {
  describe(`drain report (${kind} store)`, () => {
    let clock = Date.UTC(2026, 0, 10, 12);
    let gw: RunningGateway;
    before(async () => {
      gw = await startGateway(testConfig(backends.urls), { now: () => clock, ...(kind === 'redis' ? { redisUrl: redis.url, keyPrefix: `drain${process.pid}:` } : {}) });
    });
    after(async () => { await gw.close(); });

    test('live transactions are exact after creates, retries, follow-ups and expiries', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const order = orderId('d');
        const r = await merchantPost(gw, '/api/v1/payments', M, v1Create(order));
        assert.equal(r.status, 200);
        ids.push((await r.json()).trade_no);
        // A retry of the same create is the same transaction: counted once.
        assert.equal((await merchantPost(gw, '/api/v1/payments', M, v1Create(order))).headers.get('x-cutover-reason'), 'pinned');
      }
      for (let i = 0; i < 2; i++) {
        assert.equal((await merchantPost(gw, '/api/v2/payments', M, v2Create(orderId('d2')), { 'idempotency-key': orderId('k') })).status, 201);
      }
      // A refused create (invalid) makes nothing.
      assert.equal((await merchantPost(gw, '/api/v1/payments', M, { out_trade_no: 'x' })).status, 400);
      for (const id of ids) assert.equal((await fetch(`${gw.url}/api/v1/payments/${id}`, { headers: { 'x-merchant-id': M } })).status, 200);

      let report = await drain(gw);
      assert.equal(report.backends.legacy.livePins, 3);
      assert.equal(report.backends.next.livePins, 2);
      assert.equal(report.backends.legacy.newTransactions.hour, 3);
      assert.equal(report.backends.legacy.followUps.hour, 3);
      assert.equal(report.backends.next.followUps.hour, 0);
      assert.ok(report.backends.legacy.lastFollowUpAt);
      assert.deepEqual(report.backends.legacy.expiring.map((e: { pins: number }) => e.pins).reduce((a: number, b: number) => a + b, 0), 3);
      assert.equal(report.backends.legacy.verdict, 'serving');

      // Ten days later one more; then the first ones pass their 400 days.
      clock += 10 * DAY;
      assert.equal((await merchantPost(gw, '/api/v1/payments', M, v1Create(orderId('late')))).status, 200);
      assert.equal((await drain(gw)).backends.legacy.livePins, 4);
      clock += 391 * DAY;
      report = await drain(gw);
      assert.equal(report.backends.legacy.livePins, 1);
      assert.equal(report.backends.next.livePins, 0);
      clock += 11 * DAY;
      assert.equal((await drain(gw)).backends.legacy.livePins, 0);
    });
  });
}

describe('switch-off guard', () => {
  test('a backend removed from the configuration that still owns live pins is named loudly, and `cutover drain` exits non-zero', async () => {
    const { runCli } = await import('./helpers/cli.ts');
    const prefix = `guard${process.pid}:`;
    const full = await startGateway(testConfig(backends.urls), { redisUrl: redis.url, keyPrefix: prefix });
    try {
      assert.equal((await merchantPost(full, '/api/v1/payments', M, v1Create(orderId('g')))).status, 200);
      const ok = await runCli(full.adminUrl, ['drain']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /legacy: SERVING/);
      // The rules stop sending anything to legacy: it drains, and the report says it still owns a transaction.
      assert.equal((await adminCall(full, 'PUT', '/admin/rules', { rules: [], default: 'next' })).status, 200);
      const report = await drain(full);
      assert.equal(report.backends.legacy.verdict, 'idle');
      assert.match(report.warnings.join('\n'), /backend "legacy" gets no new transactions but still owns 1 live/);
    } finally { await full.close(); }

    // The next deployment drops legacy: v1 now goes to next.
    const cfg = testConfig(backends.urls, { pins: { ttlDays: 400, unpinned: [{ backend: 'next' }] } }, { rules: [], default: 'next' });
    delete (cfg.backends as Record<string, unknown>).legacy;
    const without = await startGateway(cfg, { redisUrl: redis.url, keyPrefix: prefix });
    try {
      const report = await drain(without);
      assert.equal(report.backends.legacy.configured, false);
      assert.equal(report.backends.legacy.livePins, 1);
      assert.match(report.warnings.join('\n'), /SWITCH-OFF GUARD: backend "legacy" is not configured but still owns 1 live/);
      const cli = await runCli(without.adminUrl, ['drain']);
      assert.equal(cli.code, 3);
      assert.match(cli.stdout, /legacy \(NOT CONFIGURED\)/);
      assert.match(cli.stdout, /WARNING: SWITCH-OFF GUARD/);
      const ready = await (await fetch(`${without.adminUrl}/readyz`)).json();
      assert.match(ready.warnings.join('\n'), /SWITCH-OFF GUARD/);
    } finally { await without.close(); }
  });
});
