import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketOf } from '../gateway/bucket.ts';
import { buildConfig } from '../gateway/config.ts';
import { chooseNew, type DecideEnv, type RoutingState, type Subject } from '../gateway/data/decide.ts';
import { identify } from '../gateway/data/identify.ts';
import { Metrics } from '../gateway/metrics.ts';
import { compileRules, type CompiledRules, type Ruleset } from '../gateway/rules.ts';
import { SplitTracker } from '../gateway/control/split-tracker.ts';
import { MemoryStore } from '../gateway/store/memory.ts';
import { testConfig } from './helpers/stack.ts';

const RULES: Ruleset = {
  rules: [
    { name: 'v1-half', match: { apiVersion: 'v1' }, split: [{ backend: 'next', weight: 50 }, { backend: 'legacy', weight: 50 }], stickyBy: 'merchant', failover: 'legacy' },
    { name: 'v2-pilot', match: { apiVersion: 'v2', merchants: ['M-PILOT'] }, backend: 'next' },
  ],
  default: 'next',
};
const config = buildConfig(testConfig({ legacy: 'http://127.0.0.1:9', next: 'http://127.0.0.1:9' }, {}, RULES));
const bySplit = (m: string) => (bucketOf('v1-half', m) < 5000 ? 'next' : 'legacy');
const MERCHANTS = Array.from({ length: 30 }, (_, i) => `M-SR-${i}`);

test('new transactions count under the rule that decided them; only a flag decision runs the matcher again', () => {
  const compiled = compileRules(RULES, 1, config.backends);
  let matcherRuns = 0;
  // The same compiled rules, with the matcher's runs counted.
  const rules: CompiledRules = { ...compiled, firstMatch: (input) => { matcherRuns++; return compiled.firstMatch(input); } };
  const flagged = MERCHANTS.find((m) => bySplit(m) === 'next')!;
  const state: RoutingState = { rules, flags: new Map([[flagged, 'legacy']]) };
  let nextOpen = false;
  const env: DecideEnv = { state, backends: config.backends, unpinned: [], pins: undefined as never, isOpen: (b) => b === 'next' && nextOpen };
  const store = new MemoryStore({ pinTtlMs: 60_000 });
  const tracker = new SplitTracker(new Metrics({ defaultMetrics: false }), () => state, store);
  const create = (version: 'v1' | 'v2', merchant: string) => {
    const s: Subject = { t: identify('POST', `/api/${version}/payments`), merchant, method: 'POST', orderId: `O-${merchant}`, header: () => undefined };
    const d = chooseNew(env, s);
    tracker.record(d, s, state.rules);
    return d;
  };

  const expected = { next: 0, legacy: 0 };
  for (const m of MERCHANTS) expected[create('v1', m).backend as 'next' | 'legacy']++;
  assert.equal(create('v1', flagged).reason, 'merchant-flag');
  expected.legacy++;
  nextOpen = true; // next's breaker is open: its share of the split fails over to legacy
  const failedOver = MERCHANTS.filter((m) => bySplit(m) === 'next' && m !== flagged).slice(0, 3);
  for (const m of failedOver) assert.equal(create('v1', m).reason, 'failover:v1-half');
  expected.legacy += failedOver.length;
  // Not under a split: another rule and the default.
  assert.equal(create('v2', 'M-PILOT').reason, 'rule:v2-pilot');
  assert.equal(create('v2', 'M-OTHER').reason, 'default');

  assert.equal(matcherRuns, 2, 'the matcher ran for the two flag decisions only');
  return tracker.view().then((views) => {
    assert.equal(views.length, 1);
    const [view] = views;
    assert.equal(view.rule, 'v1-half');
    const count = (b: string) => view.backends.find((x) => x.backend === b)?.transactions;
    assert.deepEqual({ next: count('next'), legacy: count('legacy') }, expected);
    assert.equal(view.total, MERCHANTS.length + 1 + failedOver.length);
  });
});
