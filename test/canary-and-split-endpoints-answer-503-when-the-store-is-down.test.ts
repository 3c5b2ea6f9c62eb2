import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';
import { waitFor } from './helpers/wait.ts';
import type { Ruleset } from '../gateway/rules.ts';

const RULES: Ruleset = {
  rules: [
    { name: 'v1-canary', match: { apiVersion: 'v1' }, split: [{ backend: 'next', weight: 10 }, { backend: 'legacy', weight: 90 }], stickyBy: 'merchant' },
    { name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' },
  ],
  default: 'legacy',
};

const stack = useStack(() => ({ redis: true, rules: RULES }));

test('with the store down, the canary and split endpoints answer 503 store_unavailable, not 500', async () => {
  const spec = { rule: 'v1-canary', backend: 'next', steps: [20, 100], stepSeconds: 60, gates: { max5xxRatio: 0.01, maxP99Ms: 800, minRequests: 10 } };
  assert.equal((await admin(stack.gw, 'PUT', '/admin/canary', spec)).status, 201, 'a rollout runs before the outage');
  await stack.redis.stop();

  const calls: [string, string, unknown?][] = [
    ['GET', '/admin/canary'],
    ['PUT', '/admin/canary', spec],
    ['POST', '/admin/canary/pause'],
    ['POST', '/admin/canary/resume'],
    ['POST', '/admin/canary/abort'],
    ['GET', '/admin/split'],
  ];
  for (const [method, path, body] of calls) {
    const res = await admin(stack.gw, method, path, body);
    const answer = res.body;
    assert.equal(res.status, 503, `${method} ${path}: ${JSON.stringify(answer)}`);
    assert.equal(answer.error, 'store_unavailable', `${method} ${path}`);
  }

  await stack.redis.start();
  // The canary endpoint answers again once the store is back.
  await waitFor(() => admin(stack.gw, 'GET', '/admin/canary'), (res) => res.status === 200, { what: 'GET /admin/canary answered 200' });
});
