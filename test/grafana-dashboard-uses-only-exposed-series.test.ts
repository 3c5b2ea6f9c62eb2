import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  adminCall, merchantPost, orderId, startBackends, startGateway, testConfig, v1Create, v2Create,
  type Backends, type RunningGateway,
} from './helpers/stack.ts';

// Issue 17: deploy/grafana/cutover.json references only series that /metrics exposes after traffic.
const DASHBOARD = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'deploy', 'grafana', 'cutover.json'), 'utf8'));
/** Labels Prometheus adds to every series at scrape time. */
const TARGET_LABELS = new Set(['instance', 'job']);
const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

let backends: Backends;
let gw: RunningGateway;
before(async () => {
  backends = await startBackends();
  gw = await startGateway(testConfig(backends.urls, {}, {
    rules: [
      { name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' },
      { name: 'v1-canary', match: { apiVersion: 'v1' }, split: [{ backend: 'legacy', weight: 100 }, { backend: 'next', weight: 0 }], stickyBy: 'order' },
    ],
    default: 'legacy',
  }), { canaryTickMs: 100 });
});
after(async () => { await gw.close(); await backends.close(); });

interface Sample { name: string; labels: Record<string, string> }
function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ name: m[1], labels });
  }
  return out;
}

/** Every PromQL expression of the dashboard: panel targets (rows included) and template variable queries. */
function expressions(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const walk = (panels: any[]) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
      walk(p.panels);
    }
  };
  walk(DASHBOARD.panels);
  for (const v of DASHBOARD.templating.list) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    const lv = /^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_]\w*)\s*\)$/.exec(q ?? '');
    if (lv) out.push({ where: `variable ${v.name}`, expr: `${lv[1]}{${lv[2]}=~".*"}` });
  }
  return out;
}

/** The metric names, label matchers and grouping labels of one expression. */
function references(expr: string) {
  const matchers: { label: string; op: string; value: string }[] = [];
  const metrics: { name: string; matchers: typeof matchers }[] = [];
  const grouping: string[] = [];
  let rest = expr.replace(/\[[^\]]*\]/g, ' '); // range selectors
  for (const m of rest.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)) grouping.push(...m[1].split(',').map((s) => s.trim()).filter(Boolean));
  rest = rest.replace(/\b(?:by|without|on|ignoring)\s*\([^)]*\)/g, ' ');
  rest = rest.replace(/([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g, (_all, name: string | undefined, body: string) => {
    const ms = [...body.matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map(([, label, op, value]) => ({ label, op, value }));
    if (name) metrics.push({ name, matchers: ms });
    matchers.push(...ms);
    return ' ';
  });
  for (const m of rest.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2] || PROMQL_WORDS.has(m[1].toLowerCase()) || /^\d/.test(m[1])) continue;
    metrics.push({ name: m[1], matchers: [] });
  }
  return { metrics, grouping };
}

test('after traffic, an upstream failure and a canary round, every series the dashboard reads is in /metrics', async () => {
  // Traffic: creates and a pinned follow-up (v1, pins), a v2 create, a 5xx answer from legacy.
  const created = await merchantPost(gw, '/api/v1/payments', 'M-DASH', v1Create(orderId()));
  assert.equal(created.status, 200);
  const { trade_no: tradeNo } = await created.json();
  const followUp = await fetch(`${gw.url}/api/v1/payments/${tradeNo}`, { headers: { 'x-merchant-id': 'M-DASH' } });
  assert.equal(followUp.status, 200);
  await followUp.arrayBuffer();
  assert.equal((await merchantPost(gw, '/api/v2/payments', 'M-DASH', v2Create(orderId()), { 'idempotency-key': orderId('k') })).status, 201);
  const control = (failRate: number) => fetch(`${backends.urls.legacy}/_control`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ failRate }) });
  assert.equal((await control(1)).status, 200);
  assert.equal((await merchantPost(gw, '/api/v1/payments', 'M-DASH', v1Create(orderId()))).status, 500);
  assert.equal((await control(0)).status, 200);
  // A canary whose gates read the target's traffic.
  assert.equal((await adminCall(gw, 'PUT', '/admin/canary', {
    rule: 'v1-canary', backend: 'next', steps: [100], stepSeconds: 600, gates: { max5xxRatio: 0.5, maxP99Ms: 5000, minRequests: 1000 },
  })).status, 201);
  for (let i = 0; i < 3; i++) assert.equal((await merchantPost(gw, '/api/v1/payments', 'M-DASH', v1Create(orderId()))).status, 200);

  // The canary controller publishes its gate readings at its next round.
  let samples: Sample[] = [];
  for (const deadline = Date.now() + 5000; ;) {
    samples = parseExposition(await (await fetch(`${gw.adminUrl}/metrics`)).text());
    if (samples.some((s) => s.name === 'cutover_canary_gate_reading' && s.labels.gate === 'p99_seconds') || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  const exprs = expressions();
  assert.ok(exprs.length >= 15, `${exprs.length} expressions`);
  const seen = new Set<string>();
  for (const { where, expr } of exprs) {
    const { metrics, grouping } = references(expr);
    assert.ok(metrics.length > 0, `${where}: no metric found in ${expr}`);
    const labelsOf = new Set(metrics.flatMap((m) => samples.filter((s) => s.name === m.name).flatMap((s) => Object.keys(s.labels))));
    for (const m of metrics) {
      seen.add(m.name);
      const exposed = samples.filter((s) => s.name === m.name);
      assert.ok(exposed.length > 0, `${where}: ${m.name} is not exposed by /metrics`);
      for (const { label, op, value } of m.matchers) {
        if (TARGET_LABELS.has(label)) continue;
        assert.ok(exposed.some((s) => label in s.labels), `${where}: ${m.name} has no label ${label}`);
        if (op === '=') assert.ok(exposed.some((s) => s.labels[label] === value), `${where}: no ${m.name} sample with ${label}="${value}"`);
      }
    }
    for (const label of grouping) {
      assert.ok(TARGET_LABELS.has(label) || labelsOf.has(label), `${where}: grouping label ${label} is on none of ${metrics.map((m) => m.name).join(', ')}`);
    }
  }
  // The dashboard covers what the issue asks: routing, latency, breakers, pins, split, canary.
  for (const family of ['cutover_requests_total', 'cutover_request_duration_seconds_bucket', 'cutover_upstream_duration_seconds_bucket', 'cutover_breaker_state',
    'cutover_pin_operations_total', 'cutover_store_errors_total', 'cutover_rules_version', 'cutover_split_configured_ratio', 'cutover_split_effective_ratio',
    'cutover_canary_step', 'cutover_canary_weight_ratio', 'cutover_canary_gate_reading']) {
    assert.ok(seen.has(family), `the dashboard does not show ${family}`);
  }
});

test('the dashboard is importable: unique panel ids, every query on the datasource variable', () => {
  const all: any[] = [];
  const walk = (panels: any[]) => { for (const p of panels ?? []) { all.push(p); walk(p.panels); } };
  walk(DASHBOARD.panels);
  const ids = all.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const p of all.filter((x) => x.type !== 'row')) {
    assert.equal(p.datasource?.uid, '${datasource}', p.title);
    assert.ok(p.gridPos && p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24, p.title);
    for (const t of p.targets) assert.equal(t.datasource?.uid, '${datasource}', `${p.title} ${t.refId}`);
  }
  assert.equal(DASHBOARD.uid, 'cutover-gateway');
});
