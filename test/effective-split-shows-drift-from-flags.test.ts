import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketOf } from '../gateway/bucket.ts';
import { DEFAULT_RULES, orderId, v1Create, v2Create, type RunningGateway } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';
import { useGateways } from './helpers/gateways.ts';

const HALF = {
  name: 'v1-half', match: { apiVersion: 'v1' as const }, stickyBy: 'merchant' as const,
  split: [{ backend: 'next', weight: 50 }, { backend: 'legacy', weight: 50 }],
};
const MERCHANTS = Array.from({ length: 40 }, (_, i) => `M-ES-${i}`);
const bySplit = (m: string) => (bucketOf(HALF.name, m) < 5000 ? 'next' : 'legacy');
// Flags pull some merchants off the side the split gives them: the drift the view must show.
const TO_NEXT = MERCHANTS.filter((m) => bySplit(m) === 'legacy').slice(0, 6);
const TO_LEGACY = MERCHANTS.filter((m) => bySplit(m) === 'next').slice(0, 2);
const where = (m: string) => (TO_NEXT.includes(m) ? 'next' : TO_LEGACY.includes(m) ? 'legacy' : bySplit(m));
const EXPECTED_NEXT = MERCHANTS.filter((m) => where(m) === 'next').length;

let a: RunningGateway;
let b: RunningGateway;
useGateways(() => ({ rules: { rules: [...DEFAULT_RULES.rules, HALF], default: 'legacy' }, onStarted: (gws) => { [a, b] = gws; } }));

const getJson = async (gw: RunningGateway, path: string) => (await admin(gw, 'GET', path)).body;
const create = async (gw: RunningGateway, version: 'v1' | 'v2', merchant: string, order = orderId()) => {
  const res = await fetch(`${gw.url}/api/${version}/payments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-merchant-id': merchant, ...(version === 'v2' ? { 'idempotency-key': orderId('k') } : {}) },
    body: JSON.stringify(version === 'v1' ? v1Create(order) : v2Create(order)),
  });
  assert.ok(res.ok, `create answered ${res.status}`);
  await res.arrayBuffer();
  return res.headers.get('x-cutover-backend');
};

test('the split view puts configured weights beside the actual shares of new transactions, summed over instances', async () => {
  assert.ok(TO_NEXT.length === 6 && TO_LEGACY.length === 2, 'the merchant sample covers both sides');
  for (const m of TO_NEXT) assert.equal((await admin(a, 'PUT', `/admin/merchants/${m}`, { backend: 'next' })).status, 200);
  for (const m of TO_LEGACY) assert.equal((await admin(a, 'PUT', `/admin/merchants/${m}`, { backend: 'legacy' })).status, 200);

  const repeatOrder = orderId();
  for (const [i, m] of MERCHANTS.entries()) {
    const gw = i % 2 ? b : a;
    assert.equal(await create(gw, 'v1', m, i === 0 ? repeatOrder : undefined), where(m), m);
  }
  // Not new transactions under the split: a repeated create (pinned) and v2 creates (another rule).
  await create(a, 'v1', MERCHANTS[0], repeatOrder);
  await create(b, 'v2', 'M-ES-V2');

  await getJson(b, '/admin/split'); // B sends its counts to the store when asked
  const { rules } = await getJson(a, '/admin/split');
  assert.equal(rules.length, 1);
  const [view] = rules;
  assert.equal(view.rule, 'v1-half');
  assert.equal(view.total, MERCHANTS.length);
  const next = view.backends.find((x: { backend: string }) => x.backend === 'next');
  const legacy = view.backends.find((x: { backend: string }) => x.backend === 'legacy');
  assert.deepEqual([next.configuredWeight, legacy.configuredWeight], [50, 50]);
  assert.deepEqual([next.transactions, legacy.transactions], [EXPECTED_NEXT, MERCHANTS.length - EXPECTED_NEXT]);
  assert.equal(next.effectiveShare, EXPECTED_NEXT / MERCHANTS.length);
  assert.equal(legacy.effectiveShare, (MERCHANTS.length - EXPECTED_NEXT) / MERCHANTS.length);
  assert.notEqual(next.effectiveShare, 0.5, 'the flags made the actual share drift from the weight');

  const fromRules = await getJson(b, '/admin/rules');
  assert.deepEqual(fromRules.effectiveSplit, rules, 'GET /admin/rules carries the same view');
});

test('/metrics exposes the effective and configured ratios of the split rule', async () => {
  const text = await (await fetch(`${a.adminUrl}/metrics`)).text();
  const value = (name: string, backend: string) => {
    const m = new RegExp(`^${name}\\{rule="v1-half",backend="${backend}"\\} (\\S+)$`, 'm').exec(text);
    assert.ok(m, `${name} for ${backend} in /metrics`);
    return Number(m[1]);
  };
  assert.ok(Math.abs(value('cutover_split_effective_ratio', 'next') - EXPECTED_NEXT / MERCHANTS.length) < 1e-9);
  assert.ok(Math.abs(value('cutover_split_effective_ratio', 'legacy') - (MERCHANTS.length - EXPECTED_NEXT) / MERCHANTS.length) < 1e-9);
  assert.equal(value('cutover_split_configured_ratio', 'next'), 0.5);
});

test('once the split rule is gone, its series leave /metrics and the split view is empty', async () => {
  const put = await admin(a, 'PUT', '/admin/rules', DEFAULT_RULES);
  assert.equal(put.status, 200);
  assert.deepEqual((await getJson(a, '/admin/split')).rules, []);
  const text = await (await fetch(`${a.adminUrl}/metrics`)).text();
  assert.doesNotMatch(text, /^cutover_split_(effective|configured)_ratio\{rule="v1-half"/m);
});
