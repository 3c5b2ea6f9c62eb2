import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { useStack } from './helpers/stack.ts';

// A large response streams through the gateway with backpressure: a slow reader holds the
// backend back instead of the gateway buffering the body.

const BYTES = 10 * 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/**
 * Live JS heap plus Buffer memory, after full collections. Buffer memory is
 * released a little after the collection that found it dead, hence the
 * second collection one turn of the event loop later.
 */
async function liveBytes(): Promise<number> {
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const stack = useStack();

test('a 10 MB chunked response read slowly arrives complete while memory stays far below its size', async () => {
  const baseline = await liveBytes();
  let peak = 0;
  let received = 0;
  const { port } = new URL(stack.gw.url);
  const status = await new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: `/api/v1/stream?bytes=${BYTES}`, headers: { 'x-merchant-id': 'M-STREAM' } }, (res) => {
      let nextPause = 512 * 1024;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received < nextPause) return;
        // A slow reader: stop, let everything upstream fill its buffers, measure, go on.
        nextPause += 512 * 1024;
        res.pause();
        setTimeout(async () => { peak = Math.max(peak, (await liveBytes()) - baseline); res.resume(); }, 15);
      });
      res.on('end', () => resolve(res.statusCode!));
      res.on('error', reject);
    }).on('error', reject);
  });
  assert.equal(status, 200);
  assert.equal(received, BYTES, 'every byte arrived');
  // A gateway that buffered the body would hold all of it (10 MB) at some sample.
  assert.ok(peak < BYTES / 2, `memory grew by ${(peak / 1024 / 1024).toFixed(1)} MB while streaming ${BYTES / 1024 / 1024} MB`);
});
