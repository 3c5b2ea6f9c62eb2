import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from './helpers/redis.ts';
import { adminCall, startBackends, startGateway, testConfig, type Backends, type RunningGateway } from './helpers/stack.ts';
import { createOnLegacy, migrate, rowsOf, waitForJob } from './helpers/handover.ts';

const N = Number(process.env.HANDOVER_TEST_N ?? 10_000);
const M = 'M-handover';
let redis: TestRedis;
let backends: Backends;
let a: RunningGateway;
let b: RunningGateway;
before(async () => {
  redis = await startRedis();
  backends = await startBackends();
  const cfg = testConfig(backends.urls);
  a = await startGateway(cfg, { redisUrl: redis.url });
  b = await startGateway(cfg, { redisUrl: redis.url });
});
after(async () => { await a.close(); await b.close(); await backends.close(); await redis.close(); });

const followUp = (gw: RunningGateway, id: string) => fetch(`${gw.url}/api/v1/payments/${id}`, { headers: { 'x-merchant-id': M } });

test(`a hand-over of ${N} transactions under follow-up traffic through two instances: no 404, nothing reaches legacy after the move, differing ones stay`, async () => {
  const txs = await createOnLegacy([a, b], N, M);
  const differing = new Set([3, 77, N - 1].filter((i) => i < N));
  migrate(backends, txs, (p, i) => { if (differing.has(i)) p.amount += 1; });
  // Both instances have every pin cached before the move.
  await Promise.all(txs.slice(0, 500).map(async (t) => { for (const gw of [a, b]) assert.equal((await followUp(gw, t.transactionId)).status, 200); }));

  // In batches of at most 5000 rows, as the CLI sends a large file.
  const rows = rowsOf(txs);
  const start = await adminCall(a, 'POST', '/admin/handover', { from: 'legacy', to: 'next', ratePerSecond: 10_000, transactions: rows.slice(0, 5000), more: rows.length > 5000 });
  assert.equal(start.status, 202);
  const { job } = await start.json();
  for (let i = 5000; i < rows.length; i += 5000) {
    assert.equal((await adminCall(a, 'POST', `/admin/handover/${job}/transactions`, { transactions: rows.slice(i, i + 5000), more: i + 5000 < rows.length })).status, 202);
  }

  // Merchant traffic while the job runs: every answer is 200, or 503 transaction_moving for a frozen one.
  let stop = false;
  const seen = { ok: 0, moving: 0, other: [] as string[] };
  const traffic = Promise.all([a, b, a, b].map(async (gw, w) => {
    for (let i = w; !stop; i = (i + 7) % N) {
      const r = await followUp(gw, txs[i].transactionId);
      const body = await r.json();
      if (r.status === 200) seen.ok++;
      else if (r.status === 503 && body.error === 'transaction_moving' && r.headers.get('retry-after') === '1') seen.moving++;
      else seen.other.push(`${r.status} ${body.error}`);
    }
  }));
  const done = await waitForJob(a, job, 120_000);
  stop = true;
  await traffic;
  assert.deepEqual(seen.other, []);
  assert.ok(seen.ok > 0);
  assert.equal(done.state, 'completed');
  assert.equal(done.total, N);
  assert.equal(done.done, N);
  assert.equal(done.moved, N - differing.size);
  assert.equal(done.differing, differing.size);
  assert.equal(done.failed, 0);
  assert.deepEqual(new Set(done.differences.map((d: { transactionId: string }) => d.transactionId)), new Set([...differing].map((i) => txs[i].transactionId)));
  assert.equal(done.differences[0].differences[0].field, 'total_amount');

  // After the move was reported done, no follow-up of a moved transaction reaches legacy, on either instance.
  const legacyBefore = backends.legacy.state.requests;
  for (let i = 0; i < N; i += Math.max(1, Math.floor(N / 1000))) {
    if (differing.has(i)) continue;
    for (const gw of [a, b]) {
      const r = await followUp(gw, txs[i].transactionId);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-cutover-backend'), 'next');
    }
  }
  assert.equal(backends.legacy.state.requests, legacyBefore);
  for (const i of differing) assert.equal((await followUp(b, txs[i].transactionId)).headers.get('x-cutover-backend'), 'legacy');

  const drain = await (await adminCall(b, 'GET', '/admin/drain')).json();
  assert.equal(drain.backends.legacy.livePins, differing.size);
  assert.equal(drain.backends.next.livePins, N - differing.size);

  const csv = await (await adminCall(a, 'GET', `/admin/handover/${job}/differences.csv`)).text();
  assert.equal(csv.trim().split('\n').length, 1 + differing.size);
  const audit = await (await adminCall(a, 'GET', '/admin/audit')).json();
  assert.ok(audit.entries.some((e: { action: string; actor: string; target: string }) => e.action === 'handover.start' && e.actor === 'ops' && e.target === job));
});
