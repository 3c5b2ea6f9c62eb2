import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from './helpers/redis.ts';
import { RedisStore } from '../gateway/store/redis.ts';

let redis: TestRedis;
let store: RedisStore;
before(async () => {
  redis = await startRedis();
  store = await RedisStore.connect({ url: redis.url, prefix: 'skew:', commandTimeoutMs: 1000, pinTtlMs: 400 * 86_400_000, backends: ['legacy', 'next'] });
});
after(async () => { await store.close(); await redis.close(); });

test('an instance whose clock is behind still sees a pin written just past a window boundary', async () => {
  const windowMs = store.layout.windowSeconds * 1000;
  const boundary = Math.ceil(Date.now() / windowMs) * windowMs;
  const ahead = boundary + 200;   // this instance's clock: already in the next window
  const behind = boundary - 200;  // another instance's clock: still in the previous one
  const first = await store.pinIfAbsent('t:skewed-1', 'next', ahead);
  assert.equal(first.created, true);
  assert.equal((await store.getPin('t:skewed-1', behind))?.backend, 'next');
  const second = await store.pinIfAbsent('t:skewed-1', 'legacy', behind);
  assert.equal(second.created, false);
  assert.equal(second.backend, 'next');
  assert.equal((await store.getPin('t:skewed-1', ahead + windowMs))?.backend, 'next');
});
