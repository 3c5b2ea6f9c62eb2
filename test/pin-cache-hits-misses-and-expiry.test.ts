import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PinCache, pinDigest } from '../gateway/pin-cache.ts';

const DAY = 86_400_000;
const pin = (backend: string, pinnedAt: number, ttl = 400 * DAY) => ({ backend, pinnedAt, expiresAt: pinnedAt + ttl });

test('a cached pin comes back as it was stored; an unknown key is a miss', () => {
  const cache = new PinCache(100);
  const now = Date.now();
  assert.equal(cache.set(pinDigest('t:pay_1'), pin('next', now - 5), now), true);
  assert.equal(cache.set(pinDigest('o:M-1:order-1'), pin('legacy', now), now), true);
  assert.deepEqual(cache.get(pinDigest('t:pay_1'), now), pin('next', now - 5));
  assert.deepEqual(cache.get(pinDigest('o:M-1:order-1'), now), pin('legacy', now));
  assert.equal(cache.get(pinDigest('t:pay_2'), now), undefined);
  assert.equal(cache.size, 2);
});

test('setting a cached key again replaces its pin without taking a second entry', () => {
  const cache = new PinCache(10);
  const now = Date.now();
  cache.set(pinDigest('k:M-1:key'), pin('legacy', now), now);
  cache.set(pinDigest('k:M-1:key'), pin('next', now + 1), now);
  assert.equal(cache.size, 1);
  assert.equal(cache.get(pinDigest('k:M-1:key'), now)?.backend, 'next');
});

test('a pin is served until its expiry and is a miss from then on, and gone from the cache', () => {
  const cache = new PinCache(10);
  const t0 = 1_700_000_000_000;
  cache.set(pinDigest('t:pay_exp'), pin('next', t0, 1000), t0);
  assert.equal(cache.get(pinDigest('t:pay_exp'), t0 + 999)?.backend, 'next');
  assert.equal(cache.get(pinDigest('t:pay_exp'), t0 + 1000), undefined);
  assert.equal(cache.size, 0);
  assert.equal(cache.set(pinDigest('t:pay_old'), pin('next', t0, 1000), t0 + 1000), false, 'an expired pin is not cached');
  assert.equal(cache.size, 0);
});

test('backend names of every length come back exactly; past 256 names a pin is not cached rather than mislabelled', () => {
  const cache = new PinCache(1000);
  const now = Date.now();
  for (let i = 0; i < 256; i++) assert.equal(cache.set(pinDigest(`t:${i}`), pin(`backend-${i}-${'x'.repeat(i % 7)}`, now), now), true);
  assert.equal(cache.set(pinDigest('t:one-more'), pin('backend-256', now), now), false);
  for (let i = 0; i < 256; i += 51) assert.equal(cache.get(pinDigest(`t:${i}`), now)?.backend, `backend-${i}-${'x'.repeat(i % 7)}`);
  assert.equal(cache.get(pinDigest('t:one-more'), now), undefined);
});
