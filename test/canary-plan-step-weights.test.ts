import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reweigh, sameSplit, wanted, windowOf } from '../gateway/control/canary-plan.ts';
import { runningDoc, spec, T0 } from './helpers/canary-doc.ts';

test('the target takes the step weight and a single other backend takes the rest', () => {
  assert.deepEqual(reweigh([{ backend: 'next', weight: 0 }, { backend: 'legacy', weight: 100 }], 'next', 25),
    [{ backend: 'next', weight: 25 }, { backend: 'legacy', weight: 75 }]);
});

test('several other backends share the rest in their current proportions and the split sums to 100', () => {
  const out = reweigh([{ backend: 'a', weight: 60 }, { backend: 'next', weight: 10 }, { backend: 'b', weight: 30 }], 'next', 50);
  assert.deepEqual(out, [{ backend: 'a', weight: 33.33 }, { backend: 'next', weight: 50 }, { backend: 'b', weight: 16.67 }]);
  assert.equal(Math.round(out.reduce((s, e) => s + e.weight, 0) * 100), 10_000);
});

test('other backends at 0 share the rest equally; the input split is not changed', () => {
  const split = [{ backend: 'next', weight: 100 }, { backend: 'a', weight: 0 }, { backend: 'b', weight: 0 }];
  assert.deepEqual(reweigh(split, 'next', 0), [{ backend: 'next', weight: 0 }, { backend: 'a', weight: 50 }, { backend: 'b', weight: 50 }]);
  assert.deepEqual(split, [{ backend: 'next', weight: 100 }, { backend: 'a', weight: 0 }, { backend: 'b', weight: 0 }]);
});

test('the split a rollout asks for follows its state', () => {
  const d = runningDoc(spec({ steps: [10, 50, 100] }), { weight: 50, step: 1 });
  assert.deepEqual(wanted({ ...d, state: 'running' }), { weight: 50 });
  assert.deepEqual(wanted({ ...d, state: 'paused' }), { weight: 50 });
  assert.deepEqual(wanted({ ...d, state: 'rolled_back' }), { weight: 0 });
  assert.deepEqual(wanted({ ...d, state: 'completed' }), { weight: 100 });
  assert.deepEqual(wanted({ ...d, state: 'aborted' }), { weight: 0, split: [{ backend: 'next', weight: 0 }, { backend: 'legacy', weight: 100 }] });
  assert.equal(wanted({ ...d, state: 'idle' }), null);
});

test('splits compare by backend order and weight to two decimals', () => {
  assert.equal(sameSplit([{ backend: 'a', weight: 33.333 }, { backend: 'b', weight: 66.667 }], [{ backend: 'a', weight: 33.33 }, { backend: 'b', weight: 66.67 }]), true);
  assert.equal(sameSplit([{ backend: 'a', weight: 50 }, { backend: 'b', weight: 50 }], [{ backend: 'b', weight: 50 }, { backend: 'a', weight: 50 }]), false);
  assert.equal(sameSplit([{ backend: 'a', weight: 100 }], [{ backend: 'a', weight: 100 }, { backend: 'b', weight: 0 }]), false);
});

test('each step and each resume measures its own counter window', () => {
  const d = runningDoc();
  assert.equal(windowOf(d), `rollout-1:0:${T0}`);
  assert.notEqual(windowOf({ ...d, step: 1 }), windowOf(d));
  assert.notEqual(windowOf({ ...d, stepStartedAt: T0 + 1 }), windowOf(d));
});
