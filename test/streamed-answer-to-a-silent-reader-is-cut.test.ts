import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pausedReader, startWithLegacy, until } from './helpers/streams.ts';

// Issue 13: a merchant that stops reading a streamed answer must not hold a backend
// connection for ever. With two sockets to `legacy`, two silent readers are cut off after
// limits.responseIdleMs and the sockets go back to serve other merchants.

const BYTES = 100_000_000;
let stack: Awaited<ReturnType<typeof startWithLegacy>>;
before(async () => { stack = await startWithLegacy({ maxSockets: 2, queueTimeoutMs: 5000 }, { limits: { responseIdleMs: 300 } }); });
after(async () => { await stack.close(); });

test('two readers that read nothing are cut off and their backend sockets are freed for the next merchant', async () => {
  const legacy = stack.gw.gw.backends.get('legacy')!.proxy;
  const before = stack.backends.legacy.state.requests;
  const readers = await Promise.all([1, 2].map((i) => pausedReader(stack.gw.url, `/api/v1/stream?bytes=${BYTES}`, `M-SILENT-${i}`)));
  assert.deepEqual(readers.map((r) => r.status), [200, 200]);
  assert.equal(stack.backends.legacy.state.requests - before, 2, 'the backend got both streams');

  // Both readers still hold their sockets; the gateway gives them up once they were silent for 300 ms.
  await until(() => legacy.connections === 0, 'both upstream sockets closed');
  const ends = await Promise.all(readers.map((r) => r.drain()));
  for (const end of ends) {
    assert.equal(end.complete, false, 'the answer was cut, not ended as if whole');
    assert.ok(end.bytes < BYTES, `${end.bytes} bytes of ${BYTES}`);
  }

  const res = await fetch(`${stack.gw.url}/api/v1/stream?bytes=1000`, { headers: { 'x-merchant-id': 'M-NEXT' } });
  assert.equal(res.status, 200);
  assert.equal((await res.arrayBuffer()).byteLength, 1000);
  assert.equal(stack.backends.legacy.state.requests - before, 3, 'exactly one more forward');
});

test('a reader that pauses for less than responseIdleMs each time gets every byte', async () => {
  const total = 4 * 1024 * 1024;
  const reader = await pausedReader(stack.gw.url, `/api/v1/stream?bytes=${total}`, 'M-SLOW');
  assert.equal(reader.status, 200);
  const end = await reader.drain(100);
  assert.equal(end.complete, true);
  assert.equal(end.bytes, total);
});
