import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderId, useStack, v1Create } from './helpers/stack.ts';

// SPEC 7: no request with a body is retried by the gateway, and a payment POST is never
// replayed, even without a body. The legacy backend here resets the connection after the
// request reached it: a retry would be a second payment, refund or close.

const stack = useStack(() => ({ flakyLegacy: true }));

async function postOnce(path: string, body: string | undefined): Promise<{ status: number; json: Record<string, unknown>; reached: number }> {
  stack.flaky.resetNext = 1;
  const before = stack.flaky.requests;
  const headers: Record<string, string> = { 'x-merchant-id': 'M-NORETRY' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${stack.gw.url}${path}`, { method: 'POST', headers, body });
  return { status: res.status, json: await res.json(), reached: stack.flaky.requests - before };
}

test('a create whose connection is reset is answered 502 and reached the backend exactly once', async () => {
  const nextBefore = stack.backends.next.state.requests;
  const { status, json, reached } = await postOnce('/api/v1/payments', JSON.stringify(v1Create(orderId())));
  assert.equal(status, 502);
  assert.equal(json.error, 'backend_error');
  assert.equal(reached, 1, 'never retried');
  assert.equal(stack.backends.next.state.requests, nextBefore, 'never sent elsewhere');
});

test('an unmodelled POST with a body is not retried either', async () => {
  const { status, reached } = await postOnce('/api/v1/things', '{"a":1}');
  assert.equal(status, 502);
  assert.equal(reached, 1);
});

test('a close (a POST without a body) is not retried', async () => {
  const { status, reached } = await postOnce('/api/v1/payments/2026112500000999/close', undefined);
  assert.equal(status, 502);
  assert.equal(reached, 1);
});

test('the same calls go through once the backend behaves', async () => {
  const res = await fetch(`${stack.gw.url}/api/v1/things`, { method: 'POST', headers: { 'x-merchant-id': 'M-NORETRY', 'content-type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true });
});
