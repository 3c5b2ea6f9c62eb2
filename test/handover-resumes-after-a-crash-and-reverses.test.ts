import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from './helpers/redis.ts';
import { adminCall, startBackends, startGateway, testConfig, type Backends, type RunningGateway } from './helpers/stack.ts';
import { createOnLegacy, migrate, rowsOf, waitForJob } from './helpers/handover.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../bench/procs.ts';
import { ROOT } from './helpers/cli.ts';

/** A gateway in a process of its own (`node app/main.ts`), so that it can be killed outright. */
async function gatewayProcess(cfg: Record<string, unknown>): Promise<{ gw: RunningGateway; child: ChildProcess }> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const file = join(mkdtempSync(join(tmpdir(), 'cutover-crash-')), 'cutover.json');
  writeFileSync(file, JSON.stringify({ ...cfg, listen: { port, adminPort, host: '127.0.0.1' }, redis: { url: redis.url } }));
  const child = spawn(process.execPath, ['app/main.ts'], { cwd: ROOT, env: { ...process.env, CUTOVER_CONFIG: file, REDIS_URL: '' }, stdio: 'ignore' });
  const gw = { url: `http://127.0.0.1:${port}`, adminUrl: `http://127.0.0.1:${adminPort}` } as RunningGateway;
  for (let i = 0; ; i++) {
    const up = await fetch(`${gw.adminUrl}/readyz`).then((r) => r.ok, () => false);
    if (up) return { gw, child };
    assert.ok(i < 300, 'the gateway process did not become ready');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const M = 'M-crash';
let redis: TestRedis;
let backends: Backends;
let b: RunningGateway;
before(async () => { redis = await startRedis(); backends = await startBackends(); });
after(async () => { await b?.close(); await backends.close(); await redis.close(); });

test('the instance running a job dies mid-way: another resumes it, moves every transaction exactly once; a dry run moves nothing; reverse moves them back', async () => {
  const cfg = testConfig(backends.urls);
  const { gw: a, child } = await gatewayProcess(cfg);
  const txs = await createOnLegacy([a], 600, M);
  migrate(backends, txs);

  // A dry run compares without moving.
  const dry = await (await adminCall(a, 'POST', '/admin/handover', { from: 'legacy', to: 'next', dryRun: true, ratePerSecond: 5000, transactions: rowsOf(txs.slice(0, 100)) })).json();
  const dryDone = await waitForJob(a, dry.job);
  assert.deepEqual([dryDone.state, dryDone.done, dryDone.moved, dryDone.same, dryDone.differing], ['completed', 100, 0, 100, 0]);
  assert.equal((await (await adminCall(a, 'GET', '/admin/drain')).json()).backends.legacy.livePins, 600);

  // Only `a` runs when the job starts, slowly; it dies part-way.
  const { job } = await (await adminCall(a, 'POST', '/admin/handover', { from: 'legacy', to: 'next', ratePerSecond: 300, transactions: rowsOf(txs) })).json();
  for (;;) {
    const s = await (await adminCall(a, 'GET', `/admin/handover/${job}`)).json();
    if (s.done >= 150) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  // A crash: the process is killed, no lease given back, no goodbye to the other instances.
  child.kill('SIGKILL');
  b = await startGateway(cfg, { redisUrl: redis.url });
  const done = await waitForJob(b, job, 60_000);
  assert.equal(done.state, 'completed');
  assert.deepEqual([done.total, done.done, done.moved, done.failed, done.alreadyThere], [600, 600, 600, 0, 0], JSON.stringify(done.differences.slice(0, 2)));
  const drain = await (await adminCall(b, 'GET', '/admin/drain')).json();
  assert.equal(drain.backends.legacy.livePins, 0);
  assert.equal(drain.backends.next.livePins, 600);

  // Reverse: compared again and moved back.
  const rev = await adminCall(b, 'POST', `/admin/handover/${job}/reverse`);
  assert.equal(rev.status, 202);
  const reversed = await waitForJob(b, (await rev.json()).job, 60_000);
  assert.deepEqual([reversed.state, reversed.moved], ['completed', 600]);
  assert.equal((await (await adminCall(b, 'GET', `/admin/handover/${job}`)).json()).state, 'reversed');
  const r = await fetch(`${b.url}/api/v1/payments/${txs[0].transactionId}`, { headers: { 'x-merchant-id': M } });
  assert.equal(r.headers.get('x-cutover-backend'), 'legacy');
  assert.equal((await (await adminCall(b, 'GET', '/admin/drain')).json()).backends.legacy.livePins, 600);
});

test('pause stops a job and resume continues it; a paused job cannot be paused again', async () => {
  const txs = await createOnLegacy([b], 200, 'M-pause');
  migrate(backends, txs);
  const { job } = await (await adminCall(b, 'POST', '/admin/handover', { from: 'legacy', to: 'next', ratePerSecond: 100, transactions: rowsOf(txs) })).json();
  const paused = await (await adminCall(b, 'POST', `/admin/handover/${job}/pause`)).json();
  assert.equal(paused.state, 'paused');
  assert.equal((await adminCall(b, 'POST', `/admin/handover/${job}/pause`)).status, 409);
  await new Promise((r) => setTimeout(r, 300));
  const held = (await (await adminCall(b, 'GET', `/admin/handover/${job}`)).json()).done;
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await (await adminCall(b, 'GET', `/admin/handover/${job}`)).json()).done, held);
  assert.equal((await (await adminCall(b, 'POST', `/admin/handover/${job}/resume`)).json()).state, 'running');
  const done = await waitForJob(b, job);
  assert.deepEqual([done.state, done.moved], ['completed', 200]);
});
