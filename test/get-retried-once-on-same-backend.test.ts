import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './helpers/stack.ts';

// SPEC 7: an idempotent GET may be retried once, on the same backend only. The legacy
// backend here resets the next N connections after the request reached it.

const stack = useStack(() => ({ flakyLegacy: true }));

const get = (path: string) => fetch(`${stack.gw.url}${path}`, { headers: { 'x-merchant-id': 'M-RETRY' } });

test('a GET whose first connection is reset is retried on the same backend and succeeds', async () => {
  stack.flaky.resetNext = 1;
  const [before, nextBefore] = [stack.flaky.requests, stack.backends.next.state.requests];
  const res = await get('/api/v1/things/1');
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true });
  assert.equal(res.headers.get('x-cutover-backend'), 'legacy');
  assert.equal(stack.flaky.requests - before, 2, 'the failed attempt and one retry');
  assert.equal(stack.backends.next.state.requests, nextBefore, 'the retry stayed on the same backend');
});

test('a modelled GET (payment query) is retried the same way', async () => {
  stack.flaky.resetNext = 1;
  const before = stack.flaky.requests;
  const res = await get('/api/v1/payments/2026112500000123');
  assert.equal(res.status, 200);
  assert.equal(stack.flaky.requests - before, 2);
});

test('a GET is retried at most once: two resets in a row are a 502', async () => {
  stack.flaky.resetNext = 2;
  const before = stack.flaky.requests;
  const res = await get('/api/v1/things/2');
  assert.equal(res.status, 502);
  assert.equal((await res.json()).error, 'backend_error');
  assert.equal(stack.flaky.requests - before, 2, 'one retry, not more');
  stack.flaky.resetNext = 0;
});

test('the same setup does not retry a POST', async () => {
  stack.flaky.resetNext = 1;
  const before = stack.flaky.requests;
  const res = await fetch(`${stack.gw.url}/api/v1/things`, { method: 'POST', headers: { 'x-merchant-id': 'M-RETRY', 'content-type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 502);
  assert.equal(stack.flaky.requests - before, 1);
});
