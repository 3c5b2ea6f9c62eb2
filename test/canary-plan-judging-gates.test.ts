import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judge } from '../gateway/control/canary-plan.ts';
import { runningDoc, spec, T0 } from './helpers/canary-doc.ts';

// gates: max5xxRatio 0.01, maxP99Ms 800, minRequests 200; 60 s steps from T0.
const d = runningDoc(spec());
const inWindow = T0 + 30_000;
const afterWindow = T0 + 60_000;
const healthy = { requests: 500, ratio5xx: 0.002, p99Ms: 250 };

test('inside the step window healthy traffic waits for the window to end', () => {
  assert.equal(judge(d, healthy, inWindow).kind, 'wait');
  assert.equal(judge(d, healthy, afterWindow - 1).kind, 'wait');
});

test('after the window healthy traffic with at least minRequests passes', () => {
  assert.equal(judge(d, healthy, afterWindow).kind, 'pass');
  assert.equal(judge(d, { ...healthy, requests: 200 }, afterWindow).kind, 'pass');
});

test('a 5xx ratio over the gate fails at once, inside the window, naming the ratio', () => {
  const v = judge(d, { requests: 300, ratio5xx: 0.02, p99Ms: 100 }, inWindow);
  assert.equal(v.kind, 'fail');
  assert.equal(v.reason, '5xx ratio 0.0200 over 0.01 (300 requests)');
});

test('a 5xx ratio exactly at the gate passes', () => {
  assert.equal(judge(d, { ...healthy, ratio5xx: 0.01 }, afterWindow).kind, 'pass');
});

test('a p99 over the gate fails at once, naming the latency', () => {
  const v = judge(d, { requests: 300, ratio5xx: 0, p99Ms: 1000 }, inWindow);
  assert.equal(v.kind, 'fail');
  assert.equal(v.reason, 'p99 1000 ms over 800 ms (300 requests)');
  assert.equal(judge(d, { requests: 300, ratio5xx: 0, p99Ms: 800 }, afterWindow).kind, 'pass');
});

test('a p99 beyond the last latency bucket is reported as over 10 s', () => {
  assert.equal(judge(d, { requests: 300, ratio5xx: 0, p99Ms: Infinity }, inWindow).reason, 'p99 over 10 s over 800 ms (300 requests)');
});

test('below minRequests no gate can fail, and after the window the step holds', () => {
  const bad = { requests: 199, ratio5xx: 1, p99Ms: Infinity };
  assert.equal(judge(d, bad, inWindow).kind, 'wait');
  const v = judge(d, bad, afterWindow);
  assert.equal(v.kind, 'hold');
  assert.equal(v.reason, 'only 199 of 200 requests in the step window; holding');
});

test('minRequests 0 still needs one request to pass', () => {
  const zero = runningDoc(spec({ gates: { max5xxRatio: 0.01, maxP99Ms: 800, minRequests: 0 } }));
  assert.equal(judge(zero, { requests: 0, ratio5xx: null, p99Ms: null }, afterWindow).kind, 'hold');
  assert.equal(judge(zero, { requests: 1, ratio5xx: 0, p99Ms: 5 }, afterWindow).kind, 'pass');
});

test('the 5xx gate is checked before the latency gate', () => {
  assert.match(judge(d, { requests: 300, ratio5xx: 0.5, p99Ms: 5000 }, inWindow).reason, /^5xx ratio /);
});
