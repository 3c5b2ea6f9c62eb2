import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRound } from '../gateway/control/canary-plan.ts';
import { runningDoc, spec, T0 } from './helpers/canary-doc.ts';

const afterWindow = T0 + 60_000;
const failing = { requests: 300, ratio5xx: 0.5, p99Ms: 100 };
const healthy = { requests: 300, ratio5xx: 0, p99Ms: 100 };
const atStep2 = (onFail: 'rollback' | 'pause') => runningDoc(spec({ onFail }), { step: 1, weight: 50 });

test('a failed gate with onFail rollback sets the target to 0 % and writes the split', () => {
  const { next, writeSplit } = planRound(atStep2('rollback'), failing, T0 + 1000);
  assert.equal(next.state, 'rolled_back');
  assert.equal(next.weight, 0);
  assert.deepEqual(next.history.at(-1), { time: new Date(T0 + 1000).toISOString(), action: 'rollback', step: 1, weight: 0, reason: '5xx ratio 0.5000 over 0.01 (300 requests)', actor: 'canary' });
  assert.equal(writeSplit, 'rolled back: 5xx ratio 0.5000 over 0.01 (300 requests)');
});

test('a failed gate with onFail pause keeps the weight and leaves the split alone', () => {
  const { next, writeSplit } = planRound(atStep2('pause'), failing, T0 + 1000);
  assert.equal(next.state, 'paused');
  assert.equal(next.weight, 50);
  assert.equal(next.history.at(-1)!.action, 'pause');
  assert.equal(writeSplit, null);
});

test('a passed step moves to the next weight in a fresh window and writes the split', () => {
  const { next, writeSplit } = planRound(runningDoc(spec(), { holding: true }), healthy, afterWindow);
  assert.equal(next.state, 'running');
  assert.equal(next.step, 1);
  assert.equal(next.weight, 50);
  assert.equal(next.stepStartedAt, afterWindow);
  assert.equal(next.holding, false);
  assert.deepEqual(next.readings, healthy);
  assert.equal(next.history.at(-1)!.action, 'step');
  assert.equal(writeSplit, 'step 2 of 3: 50%');
});

test('passing the last step completes the rollout without another split write', () => {
  const { next, writeSplit } = planRound(runningDoc(spec(), { step: 2, weight: 100 }), healthy, afterWindow);
  assert.equal(next.state, 'completed');
  assert.equal(next.weight, 100);
  assert.equal(next.history.at(-1)!.action, 'complete');
  assert.equal(writeSplit, null);
});

test('a hold is recorded once, however many rounds it lasts', () => {
  const few = { requests: 3, ratio5xx: 0, p99Ms: 5 };
  const first = planRound(runningDoc(), few, afterWindow).next;
  assert.equal(first.holding, true);
  assert.deepEqual(first.history.map((h) => h.action), ['start', 'hold']);
  const second = planRound(first, few, afterWindow + 500).next;
  assert.deepEqual(second.history.map((h) => h.action), ['start', 'hold']);
  assert.equal(second.state, 'running');
});

test('a round inside the window only stores the readings', () => {
  const d = runningDoc();
  const { next, writeSplit } = planRound(d, healthy, T0 + 1000);
  assert.deepEqual(next, { ...d, readings: healthy });
  assert.equal(writeSplit, null);
});
