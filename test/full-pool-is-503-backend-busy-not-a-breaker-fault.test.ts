import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { orderId, v1Create } from './helpers/stack.ts';
import { pausedReader, startWithLegacy, until, type PausedReader } from './helpers/streams.ts';

// Issue 13: waiting for a free connection of a full pool is not a backend fault. With both
// `legacy` sockets held by streamed answers, other merchants get 503 backend_busy (with
// Retry-After) after queueTimeoutMs, nothing reaches the backend, and the breaker, set to
// open on the first failure, stays closed.

const BYTES = 100_000_000;
let stack: Awaited<ReturnType<typeof startWithLegacy>>;
before(async () => {
  stack = await startWithLegacy(
    { maxSockets: 2, queueTimeoutMs: 200, breaker: { volumeThreshold: 1, errorThresholdPercentage: 1, resetTimeoutMs: 60_000 } },
    { limits: { responseIdleMs: 60_000 } },
  );
});
after(async () => { await stack.close(); });

async function holdBothSockets(): Promise<PausedReader[]> {
  const readers = await Promise.all([1, 2].map((i) => pausedReader(stack.gw.url, `/api/v1/stream?bytes=${BYTES}`, `M-HOLD-${i}`)));
  assert.deepEqual(readers.map((r) => r.status), [200, 200]);
  return readers;
}

test('a create meeting a full pool is 503 backend_busy with Retry-After and never reaches the backend', async () => {
  const readers = await holdBothSockets();
  try {
    const before = stack.backends.legacy.state.requests;
    const order = orderId('BUSY');
    const res = await fetch(`${stack.gw.url}/api/v1/payments`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-OTHER' }, body: JSON.stringify(v1Create(order)),
    });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.equal((await res.json() as { error: string }).error, 'backend_busy');

    // The queued create was given up, not sent once a socket came free.
    for (const r of readers) r.destroy();
    await until(() => stack.gw.gw.backends.get('legacy')!.proxy.connections < 2, 'a socket freed');
    const q = await fetch(`${stack.gw.url}/api/v1/payments?out_trade_no=${order}`, { headers: { 'x-merchant-id': 'M-OTHER' } });
    assert.equal(q.status, 404, 'the backend holds no such payment');
    assert.equal(stack.backends.legacy.state.requests - before, 1, 'only the query reached the backend');
  } finally {
    for (const r of readers) r.destroy();
  }
});

test('busy answers never open the breaker: the backend serves the next merchant once a socket is free', async () => {
  const breaker = stack.gw.gw.backends.get('legacy')!;
  const readers = await holdBothSockets();
  try {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${stack.gw.url}/api/v1/stream?bytes=10`, { headers: { 'x-merchant-id': 'M-OTHER' } });
      assert.equal(res.status, 503);
      assert.equal((await res.json() as { error: string }).error, 'backend_busy');
    }
    assert.equal(breaker.isOpen, false);
  } finally {
    for (const r of readers) r.destroy();
  }
  await until(() => breaker.proxy.connections < 2, 'a socket freed');
  const res = await fetch(`${stack.gw.url}/api/v1/stream?bytes=10`, { headers: { 'x-merchant-id': 'M-OTHER' } });
  assert.equal(res.status, 200);
  assert.equal((await res.arrayBuffer()).byteLength, 10);
});

test('a full pool answers 503 after queueTimeoutMs even when the backend timeout is far longer', { timeout: 10_000 }, async () => {
  // timeoutMs far above this test's own limit: only the queue timer can answer in time.
  const slow = await startWithLegacy(
    { maxSockets: 1, queueTimeoutMs: 200, timeoutMs: 300_000 },
    { limits: { responseIdleMs: 60_000 } },
  );
  const reader = await pausedReader(slow.gw.url, `/api/v1/stream?bytes=${BYTES}`, 'M-HOLD');
  try {
    assert.equal(reader.status, 200);
    const before = slow.backends.legacy.state.requests;
    const res = await fetch(`${slow.gw.url}/api/v1/stream?bytes=10`, { headers: { 'x-merchant-id': 'M-OTHER' } });
    assert.equal(res.status, 503);
    assert.equal((await res.json() as { error: string }).error, 'backend_busy');
    assert.equal(slow.backends.legacy.state.requests - before, 0, 'the queued request never reached the backend');
  } finally {
    reader.destroy();
    await slow.close();
  }
});
