import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyAction, specProblems } from '../gateway/control/canary-plan.ts';
import type { Rule } from '../gateway/rules.ts';
import { runningDoc, spec, T0 } from './helpers/canary-doc.ts';

const splitRule: Rule = { name: 'v1-canary', match: { apiVersion: 'v1' }, split: [{ backend: 'next', weight: 0 }, { backend: 'legacy', weight: 100 }] };

test('pause, resume and abort are allowed only from the states that make sense', () => {
  const running = runningDoc();
  const paused = { ...running, state: 'paused' as const };
  assert.equal(applyAction(running, 'pause', 'ops', T0)?.state, 'paused');
  assert.equal(applyAction(paused, 'pause', 'ops', T0), null);
  assert.equal(applyAction(paused, 'resume', 'ops', T0)?.state, 'running');
  assert.equal(applyAction(running, 'resume', 'ops', T0), null);
  assert.equal(applyAction(running, 'abort', 'ops', T0)?.state, 'aborted');
  assert.equal(applyAction(paused, 'abort', 'ops', T0)?.state, 'aborted');
  for (const state of ['completed', 'rolled_back', 'aborted'] as const) {
    for (const action of ['pause', 'resume', 'abort'] as const) assert.equal(applyAction({ ...running, state }, action, 'ops', T0), null, `${action} from ${state}`);
  }
});

test('resume starts a fresh window at the same step and clears the hold', () => {
  const paused = runningDoc(spec(), { state: 'paused', step: 1, weight: 50, holding: true });
  const next = applyAction(paused, 'resume', 'ops', T0 + 5000)!;
  assert.equal(next.step, 1);
  assert.equal(next.weight, 50);
  assert.equal(next.stepStartedAt, T0 + 5000);
  assert.equal(next.holding, false);
  assert.deepEqual(next.history.at(-1), { time: new Date(T0 + 5000).toISOString(), action: 'resume', step: 1, weight: 50, reason: 'resume by ops', actor: 'ops' });
});

test('a spec on a rule without a split, or a backend not in it, is refused by name', () => {
  assert.deepEqual(specProblems(spec({ rule: 'v2-to-next' }), { name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' }),
    [{ path: '/rule', message: 'rule "v2-to-next" has no split' }]);
  assert.deepEqual(specProblems(spec({ backend: 'other' }), splitRule), [{ path: '/backend', message: 'backend "other" is not in the split of "v1-canary"' }]);
  assert.deepEqual(specProblems(spec(), { ...splitRule, split: [{ backend: 'next', weight: 100 }] }),
    [{ path: '/rule', message: 'the split needs another backend to take the rest' }]);
});

test('steps must increase, in at most two decimals; every bad step is named', () => {
  assert.deepEqual(specProblems(spec({ steps: [10, 5, 20.125] }), splitRule), [
    { path: '/steps/1', message: 'steps must increase' },
    { path: '/steps/2', message: 'at most two decimals' },
  ]);
  assert.deepEqual(specProblems(spec({ steps: [0.5, 12.25, 100] }), splitRule), []);
});
