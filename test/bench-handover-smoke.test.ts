import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureHandover, renderHandover } from '../bench/handover-bench.ts';
import { freePort, scratchDir, startRedis } from '../bench/procs.ts';

test('the hand-over bench, small: counts its pins, hands every transaction over, and renders its section', async () => {
  const dir = scratchDir('handover-smoke');
  const redis = await startRedis(await freePort(), dir);
  try {
    const h = await measureHandover({ dir, redisUrl: redis.url, pins: 2000, transactions: 200 });
    assert.deepEqual([h.speed.moved, h.speed.failed], [200, 0]);
    assert.ok(h.counters.usPerCreateCounted > 0 && h.counters.countHashBytes > 0);
    const md = renderHandover(h).join('\n');
    assert.match(md, /hand-over of 200 transactions \| [\d.]+ s, \d+ per second \(moved 200, failed 0\)/);
  } finally {
    await redis.child.stop();
  }
});
