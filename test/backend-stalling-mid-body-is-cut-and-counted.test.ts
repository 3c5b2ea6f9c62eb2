import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startGateway, testConfig, type RunningGateway } from './helpers/stack.ts';
import { listen } from '../gateway/data/server.ts';
import { pausedReader, startWithLegacy, until } from './helpers/streams.ts';

// A backend that sends a streamed answer's head and then nothing more would hold the merchant
// and a pool connection for ever: after the backend's timeoutMs without a chunk the merchant's
// connection is cut, the pool connection dropped, and the stall counts against the breaker.
// A pause that is the gateway's own (backpressure from a slow merchant) is not a stall.

const TIMEOUT_MS = 300;
let backend: http.Server;
let backendUrl: string;
let gw: RunningGateway;
/** Answers of the backend that ended without being finished (their connection was dropped). */
let abandoned = 0;

before(async () => {
  backend = http.createServer((req, res) => {
    req.resume();
    res.on('close', () => { if (!res.writableFinished) abandoned++; });
    if (req.url!.startsWith('/api/v1/stall')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  backendUrl = `http://127.0.0.1:${await listen(backend, 0, '127.0.0.1')}`;
  const raw = testConfig({ legacy: backendUrl, next: backendUrl }, { limits: { responseIdleMs: 60_000 } });
  const legacy = (raw.backends as Record<string, Record<string, unknown>>).legacy;
  Object.assign(legacy, { timeoutMs: TIMEOUT_MS, maxSockets: 1, breaker: { volumeThreshold: 1, errorThresholdPercentage: 1, resetTimeoutMs: 60_000 } });
  gw = await startGateway(raw);
});
after(async () => {
  backend.closeAllConnections();
  await gw?.close();
  await new Promise((r) => backend.close(r));
});

test('a backend stalling mid-body: the merchant\'s connection is cut, the pool socket freed, the breaker counts it', async () => {
  const reader = await pausedReader(gw.url, '/api/v1/stall', 'M-STALL');
  assert.equal(reader.status, 200);
  const { bytes, complete } = await reader.drain();
  assert.equal(bytes, 'partial'.length, 'the merchant got what the backend sent');
  assert.equal(complete, false, 'and can tell the answer was cut');
  await until(() => abandoned === 1, 'the backend saw its connection dropped');
  const legacy = gw.gw.backends.get('legacy')!;
  await until(() => legacy.proxy.connections === 0, 'the pool connection freed');
  await until(() => legacy.isOpen, 'the stall counted as a backend fault');
});

test('a merchant who pauses longer than the backend timeout is not taken for a stalled backend', async () => {
  // Reference backends: /api/v1/stream sends its bytes at once, so that the gateway pauses the
  // backend for a merchant who reads nothing (backpressure), here for longer than timeoutMs.
  const stack = await startWithLegacy(
    { timeoutMs: TIMEOUT_MS, breaker: { volumeThreshold: 1, errorThresholdPercentage: 1, resetTimeoutMs: 60_000 } },
    { limits: { responseIdleMs: 60_000 } },
  );
  try {
    const BYTES = 20_000_000;
    const reader = await pausedReader(stack.gw.url, `/api/v1/stream?bytes=${BYTES}`, 'M-SLOW');
    assert.equal(reader.status, 200);
    // The point of this test is a pause longer than the upstream timer: nothing to await instead.
    await new Promise((r) => setTimeout(r, TIMEOUT_MS * 4));
    assert.deepEqual(await reader.drain(), { bytes: BYTES, complete: true });
    assert.equal(stack.gw.gw.backends.get('legacy')!.isOpen, false);
  } finally {
    await stack.close();
  }
});
