import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.ts';
import { adminCall, useStack } from './helpers/stack.ts';
import { createOnLegacy, migrate, rowsOf, waitForJob } from './helpers/handover.ts';

// The embedded store: one instance.
const stack = useStack();
const dir = mkdtempSync(join(tmpdir(), 'cutover-handover-'));

test('cutover handover streams a CSV file, reports moved and differing ones; differences come out as CSV', async () => {
  const txs = await createOnLegacy([stack.gw], 30, 'M-cli');
  migrate(stack.backends, txs, (p, i) => { if (i === 4) p.closed = true; });
  const file = join(dir, 'migrated.csv');
  writeFileSync(file, ['merchant,apiVersion,transactionId,orderId', ...txs.map((t) => `${t.merchant},v1,${t.transactionId},${t.orderId}`)].join('\n'));
  const r = await runCli(stack.gw.adminUrl, ['handover', '--from', 'legacy', '--to', 'next', '--rate', '1000', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /completed, legacy -> next/);
  assert.match(r.stdout, /30\/30 done: moved 29, same 0, differing 1, failed 0/);
  const job = /job (ho_\w+)/.exec(r.stdout)![1];
  const csv = await runCli(stack.gw.adminUrl, ['handover-job', 'differences', job]);
  assert.equal(csv.code, 0, csv.stderr);
  assert.deepEqual(csv.stdout.trim().split('\n'), ['row,merchant,transactionId,reason,field,from,to', `4,M-cli,${txs[4].transactionId},differing,status,TRADE_SUCCESS,TRADE_CLOSED`]);
  // The differing one is still on legacy, the others on next.
  const at = async (id: string) => (await fetch(`${stack.gw.url}/api/v1/payments/${id}`, { headers: { 'x-merchant-id': 'M-cli' } })).headers.get('x-cutover-backend');
  assert.equal(await at(txs[4].transactionId), 'legacy');
  assert.equal(await at(txs[5].transactionId), 'next');
});

test('cutover handover --job resumes sending a file: the rows the job has are skipped', async () => {
  const txs = await createOnLegacy([stack.gw], 25, 'M-cli2');
  migrate(stack.backends, txs);
  const rows = rowsOf(txs);
  const started = await (await adminCall(stack.gw, 'POST', '/admin/handover', { from: 'legacy', to: 'next', more: true, ratePerSecond: 1000, transactions: rows.slice(0, 10) })).json();
  const file = join(dir, 'migrated.jsonl');
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n'));
  const r = await runCli(stack.gw.adminUrl, ['handover', '--job', started.job, file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /sent 15 transaction\(s\) after the 10 the job had/);
  const done = await waitForJob(stack.gw, started.job);
  assert.deepEqual([done.state, done.total, done.moved], ['completed', 25, 25]);
});
