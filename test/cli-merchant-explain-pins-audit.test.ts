import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessSync, constants, readFileSync } from 'node:fs';
import { ROOT, runCli } from './helpers/cli.ts';
import { orderId, useStack, v1Create } from './helpers/stack.ts';

const stack = useStack();

const cutover = (...args: string[]) => runCli(stack.gw.adminUrl, args);
const createV1 = async (merchant: string, order = orderId()) => {
  const res = await fetch(`${stack.gw.url}/api/v1/payments`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': merchant }, body: JSON.stringify(v1Create(order)) });
  return { backend: res.headers.get('x-cutover-backend'), reason: res.headers.get('x-cutover-reason'), body: await res.json() };
};

test('the cutover bin is declared, starts with a node shebang and is executable', () => {
  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8'));
  assert.equal(pkg.bin.cutover, './cli/cutover.ts');
  assert.match(readFileSync(`${ROOT}cli/cutover.ts`, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  accessSync(`${ROOT}cli/cutover.ts`, constants.X_OK);
});

test('merchant set, list and unset change what the data plane does', async () => {
  const set = await cutover('merchant', 'set', 'M-CLI', 'next', '--comment', 'pilot merchant');
  assert.equal(set.code, 0, set.stderr);
  assert.equal(set.stdout.trim(), 'merchant M-CLI: flagged to next');
  assert.deepEqual([(await createV1('M-CLI')).backend, (await createV1('M-CLI')).reason], ['next', 'merchant-flag']);

  const list = await cutover('merchant', 'list');
  assert.match(list.stdout, /^MERCHANT\s+BACKEND\s+UPDATED\s+BY\s+COMMENT$/m);
  assert.match(list.stdout, /^M-CLI\s+next\s+\S+\s+ops\s+pilot merchant$/m);
  const json = JSON.parse((await cutover('merchant', 'list', '--json')).stdout);
  assert.deepEqual(json.merchants.map((f: { merchant: string; backend: string }) => [f.merchant, f.backend]), [['M-CLI', 'next']]);

  const unset = await cutover('merchant', 'unset', 'M-CLI');
  assert.equal(unset.code, 0, unset.stderr);
  assert.equal(unset.stdout.trim(), 'merchant M-CLI: flag removed (was next)');
  assert.equal((await createV1('M-CLI')).backend, 'legacy');
  assert.equal((await cutover('merchant', 'list')).stdout.trim(), 'no merchant flags');

  const again = await cutover('merchant', 'unset', 'M-CLI');
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^cutover: not_found: /);
  const badBackend = await cutover('merchant', 'set', 'M-CLI', 'mainframe');
  assert.equal(badBackend.code, 1);
  assert.match(badBackend.stderr, /^cutover: invalid_request: .*\n {2}\/backend: must be one of legacy, next/);
});

test('explain says what a real create then does, and says pinned once it is done', async () => {
  const order = orderId();
  const before = await cutover('explain', '--api-version', 'v1', '--merchant', 'M-EXP', '--order', order);
  assert.equal(before.code, 0, before.stderr);
  assert.match(before.stdout, /^backend\s+legacy$/m);
  assert.match(before.stdout, /^reason\s+default$/m);
  assert.match(before.stdout, /^pinned\s+no$/m);

  const real = await createV1('M-EXP', order);
  assert.deepEqual([real.backend, real.reason], ['legacy', 'default']);

  const afterJson = JSON.parse((await cutover('--json', 'explain', '--api-version', 'v1', '--merchant', 'M-EXP', '--order', order, '--method', 'post')).stdout);
  assert.deepEqual([afterJson.backend, afterJson.reason, afterJson.pinned], ['legacy', 'pinned', true]);

  const followUp = await cutover('explain', '--merchant', 'M-EXP', '--path', `/api/v2/payments/${real.body.trade_no}`);
  assert.equal(followUp.code, 0);
  assert.match(followUp.stdout, /^refused\s+409 version_mismatch$/m);

  const noMerchant = await cutover('explain', '--api-version', 'v1');
  assert.equal(noMerchant.code, 2);
  assert.match(noMerchant.stderr, /--merchant/);
  assert.equal((await cutover('explain', '--api-version', 'v3', '--merchant', 'M-1')).code, 2);
});

test('pins shows the backend and dates of a transaction; an unknown one exits 1', async () => {
  const { body } = await createV1('M-PINS');
  const shown = await cutover('pins', body.trade_no);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, new RegExp(`^transaction\\s+${body.trade_no}$`, 'm'));
  assert.match(shown.stdout, /^backend\s+legacy$/m);
  const json = JSON.parse((await cutover('pins', body.trade_no, '--json')).stdout);
  assert.equal(Date.parse(json.expiresAt) - Date.parse(json.pinnedAt), 400 * 86_400_000);

  const unknown = await cutover('pins', 'pay_nothing');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^cutover: not_found: /);
});

test('audit lists the changes newest first, --limit bounds it, --json parses', async () => {
  const all = JSON.parse((await cutover('audit', '--json')).stdout);
  assert.deepEqual(all.entries.map((e: { action: string }) => e.action), ['merchant.delete', 'merchant.put']);

  const one = await cutover('audit', '--limit', '1');
  assert.equal(one.code, 0, one.stderr);
  const lines = one.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^TIME\s+ACTOR\s+ACTION\s+TARGET\s+CHANGE$/);
  assert.match(lines[1], /^\S+\s+ops\s+merchant\.delete\s+M-CLI\s+next → \(none\)$/);
  assert.equal((await cutover('audit', '--limit', 'many')).code, 2);
});
