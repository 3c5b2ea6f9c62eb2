import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DEFAULT_RULES, orderId, startBackends, startGateway, testConfig, v1Create, v2Create, type Backends, type RunningGateway } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';

// SPEC 9: prom-client metrics with Prometheus naming, on the admin port.

let backends: Backends;
let gw: RunningGateway;
before(async () => {
  backends = await startBackends();
  gw = await startGateway(testConfig(backends.urls));
  await sendTraffic();
});
after(async () => { await gw.close(); await backends.close(); });

interface Sample { name: string; labels: Record<string, string>; value: number }

function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample named `name` whose labels include `labels`. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(hits.length <= 1, `${name} ${JSON.stringify(labels)} matches ${hits.length} samples`);
  return hits[0]?.value;
}

const metricsText = async () => {
  const res = await fetch(`${gw.adminUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return res.text();
};
const post = (path: string, body: unknown, headers: Record<string, string> = {}) => fetch(`${gw.url}${path}`, {
  method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-MET', ...headers }, body: JSON.stringify(body),
});

/** Two v1 calls to legacy (create, pinned follow-up), a v2 create to next, one refused call. */
async function sendTraffic(): Promise<void> {
  const created = await post('/api/v1/payments', v1Create(orderId()));
  assert.equal(created.status, 200);
  const { trade_no: tradeNo } = await created.json();
  assert.equal((await fetch(`${gw.url}/api/v1/payments/${tradeNo}`, { headers: { 'x-merchant-id': 'M-MET' } })).status, 200);
  assert.equal((await post('/api/v2/payments', v2Create(orderId()), { 'idempotency-key': orderId('k') })).status, 201);
  assert.equal((await post('/api/v1/payments', {})).status, 400);
}

test('cutover_requests_total counts by backend, api_version, reason and status_class', async () => {
  const samples = parseExposition(await metricsText());
  const requests = (backend: string, apiVersion: string, reason: string, statusClass: string) =>
    value(samples, 'cutover_requests_total', { backend, api_version: apiVersion, reason, status_class: statusClass });
  assert.equal(requests('legacy', 'v1', 'default', '2xx'), 1);
  assert.equal(requests('legacy', 'v1', 'pinned', '2xx'), 1);
  assert.equal(requests('next', 'v2', 'rule:v2-to-next', '2xx'), 1);
  assert.equal(requests('none', 'v1', 'refused', '4xx'), 1);
});

test('request and upstream duration histograms, in seconds', async () => {
  const samples = parseExposition(await metricsText());
  assert.equal(value(samples, 'cutover_request_duration_seconds_count', { api_version: 'v1', backend: 'legacy' }), 2);
  assert.equal(value(samples, 'cutover_request_duration_seconds_bucket', { api_version: 'v1', backend: 'legacy', le: '+Inf' }), 2);
  assert.ok((value(samples, 'cutover_request_duration_seconds_sum', { api_version: 'v1', backend: 'legacy' }) ?? 0) > 0);
  assert.equal(value(samples, 'cutover_upstream_duration_seconds_count', { backend: 'next', status_class: '2xx' }), 1);
  assert.equal(value(samples, 'cutover_upstream_duration_seconds_bucket', { backend: 'legacy', status_class: '2xx', le: '+Inf' }), 2);
});

test('breaker state, pin operations, store errors and the ruleset version', async () => {
  let samples = parseExposition(await metricsText());
  for (const backend of ['legacy', 'next']) {
    assert.equal(value(samples, 'cutover_breaker_state', { backend, state: 'closed' }), 1);
    assert.equal(value(samples, 'cutover_breaker_state', { backend, state: 'open' }), 0);
  }
  assert.ok((value(samples, 'cutover_pin_operations_total', { op: 'claim', outcome: 'created' }) ?? 0) >= 3, 'order, key and transaction pins');
  assert.equal(value(samples, 'cutover_pin_operations_total', { op: 'lookup', outcome: 'hit' }), 1);
  assert.equal(value(samples, 'cutover_store_errors_total'), 0);
  assert.equal(value(samples, 'cutover_rules_version'), 1);
  const put = await admin(gw, 'PUT', '/admin/rules', { ...DEFAULT_RULES, comment: 'metrics test' });
  assert.equal(put.status, 200);
  samples = parseExposition(await metricsText());
  assert.equal(value(samples, 'cutover_rules_version'), 2);
});

test('store round trips by command, GC pauses by kind and event-loop delay, for an operator chasing a tail', async () => {
  const samples = parseExposition(await metricsText());
  // One v1 create (order claim, then its id), one v2 create (order and key claims in one call, then its id), one pinned follow-up served from the cache.
  assert.equal(value(samples, 'cutover_store_duration_seconds_count', { command: 'claim' }), 2);
  assert.equal(value(samples, 'cutover_store_duration_seconds_count', { command: 'pin' }), 2);
  assert.equal(value(samples, 'cutover_store_duration_seconds_count', { command: 'lookup' }), undefined, 'a cache hit is no round trip');
  assert.equal(value(samples, 'cutover_store_duration_seconds_bucket', { command: 'claim', le: '+Inf' }), 2);
  assert.equal(value(samples, 'cutover_pin_cache_entries'), 5, 'two order pins, one key pin, two ids');
  // Young-generation garbage makes the collector run; every pause is counted, by kind.
  let kept: number[] = [];
  for (let i = 0; i < 200; i++) kept = Array.from({ length: 10_000 }, (_, j) => j + i);
  assert.equal(kept.length, 10_000);
  let minor: number | undefined;
  for (let tries = 0; tries < 100 && !minor; tries++) {
    await new Promise((r) => setImmediate(r));
    minor = value(parseExposition(await metricsText()), 'nodejs_gc_duration_seconds_count', { kind: 'minor' });
  }
  assert.ok((minor ?? 0) > 0, 'minor GC pauses counted');
  const text = await metricsText();
  assert.match(text, /^nodejs_gc_duration_seconds_bucket\{le="0\.0005",kind="minor"\} \d+$/m, 'buckets below a millisecond');
  assert.equal(text.match(/^# TYPE nodejs_gc_duration_seconds /gm)?.length, 1, 'one GC histogram');
  for (const name of ['nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_max_seconds']) assert.match(text, new RegExp(`^${name} \\d`, 'm'), name);
});

test("the gateway's own metrics pass promtool check metrics", async (t) => {
  const own = (await metricsText()).split('\n').filter((l) => /^(# (HELP|TYPE) )?(cutover_|nodejs_gc_|nodejs_eventloop_lag_)/.test(l)).join('\n') + '\n';
  assert.ok(own.includes('cutover_requests_total'));
  const run = spawnSync('promtool', ['check', 'metrics'], { input: own, encoding: 'utf8' });
  if ((run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    if (process.env.CI) assert.fail('promtool is required in CI (apt package "prometheus")');
    t.skip('promtool is not installed (apt package "prometheus"); exposition not linted');
    return;
  }
  assert.equal(run.status, 0, `promtool: ${run.stdout}${run.stderr}`);
});
