import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PinCache, pinDigest } from '../gateway/pin-cache.ts';
import { PinService, pinKey } from '../gateway/pins.ts';
import { MemoryStore } from '../gateway/store/memory.ts';

const TTL = 400 * 86_400_000;

test('an invalidated entry is a miss at once and its slot is reused', () => {
  const cache = new PinCache(2);
  const now = Date.now();
  const p = { backend: 'legacy', pinnedAt: now, expiresAt: now + TTL };
  cache.set(pinDigest('t:pay_moved'), p, now);
  cache.set(pinDigest('t:pay_stays'), p, now);
  assert.equal(cache.delete(pinDigest('t:pay_moved')), true);
  assert.equal(cache.delete(pinDigest('t:pay_moved')), false);
  assert.equal(cache.get(pinDigest('t:pay_moved'), now), undefined);
  cache.set(pinDigest('t:pay_new'), p, now);
  assert.equal(cache.evictions, 0, 'the freed slot took the new pin');
  assert.ok(cache.get(pinDigest('t:pay_stays'), now));
});

test('after forget, the pin service asks the store again and serves what the store says now', async () => {
  const store = new MemoryStore({ pinTtlMs: TTL });
  const ops: string[] = [];
  const pins = new PinService(store, { cacheSize: 100, ttlMs: TTL, events: { onPinOp: (op, outcome) => ops.push(`${op}:${outcome}`) } });
  const key = pinKey.transaction('pay_forget');
  await pins.claim(key, 'legacy');
  assert.equal((await pins.lookup(key))?.backend, 'legacy');
  assert.deepEqual(ops, ['claim:created', 'lookup:hit']);
  pins.forget(key);
  assert.equal((await pins.lookup(key))?.backend, 'legacy');
  assert.equal(ops.at(-1), 'lookup:found', 'read from the store, not the cache');
  assert.equal(ops.filter((o) => o === 'lookup:hit').length, 1);
  await store.close();
});
