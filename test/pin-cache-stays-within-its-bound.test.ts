import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PinCache, pinDigest } from '../gateway/pin-cache.ts';

const now = 1_700_000_000_000;
const pin = (backend: string, ttl = 86_400_000) => ({ backend, pinnedAt: now, expiresAt: now + ttl });

/** A digest whose first word (the one that picks the slot) is `first`, the rest from `n`. */
function digest(first: number, n: number): Uint8Array {
  const d = new Uint8Array(12);
  const v = new DataView(d.buffer);
  v.setUint32(0, first, true);
  v.setUint32(4, n, true);
  v.setUint32(8, n ^ 0x5bd1e995, true);
  return d;
}

test('the cache never holds more than its capacity, however many pins pass through it, and its memory is fixed', () => {
  const cache = new PinCache(1000);
  const bytes = cache.bytes;
  for (let i = 0; i < 20_000; i++) {
    cache.set(pinDigest(`t:pay_${i}`), pin(i % 2 ? 'legacy' : 'next'), now);
    assert.ok(cache.size <= 1000);
  }
  assert.equal(cache.size, 1000);
  assert.equal(cache.evictions, 19_000);
  assert.equal(cache.bytes, bytes);
  // What is still there answers right.
  let held = 0;
  for (let i = 0; i < 20_000; i++) {
    const got = cache.get(pinDigest(`t:pay_${i}`), now);
    if (got) { held += 1; assert.equal(got.backend, i % 2 ? 'legacy' : 'next'); }
  }
  assert.equal(held, 1000);
});

test('eviction keeps pins that are being used over pins that are not (CLOCK)', () => {
  const cache = new PinCache(100);
  for (let i = 0; i < 100; i++) cache.set(pinDigest(`hot:${i}`), pin('next'), now);
  // New pins stream through; the first 50 old ones are read between inserts, the other 50 never again.
  for (let i = 0; i < 100; i++) {
    for (let h = 0; h < 50; h++) cache.get(pinDigest(`hot:${h}`), now);
    cache.set(pinDigest(`cold:${i}`), pin('legacy'), now);
  }
  let hotKept = 0;
  for (let h = 0; h < 50; h++) if (cache.get(pinDigest(`hot:${h}`), now)) hotKept += 1;
  assert.ok(hotKept >= 45, `${hotKept} of the 50 pins in use kept`);
  let idleKept = 0;
  for (let h = 50; h < 100; h++) if (cache.get(pinDigest(`hot:${h}`), now)) idleKept += 1;
  assert.ok(idleKept <= 5, `${idleKept} of the 50 idle pins kept`);
});

test('a full cache evicts an expired pin before a live one', () => {
  const cache = new PinCache(3);
  cache.set(pinDigest('a'), pin('next'), now);
  cache.set(pinDigest('short'), pin('next', 10), now);
  cache.set(pinDigest('b'), pin('next'), now);
  for (const k of ['a', 'short', 'b']) cache.get(pinDigest(k), now);
  cache.set(pinDigest('c'), pin('legacy'), now + 10);
  assert.equal(cache.get(pinDigest('short'), now), undefined);
  for (const k of ['a', 'b', 'c']) assert.ok(cache.get(pinDigest(k), now + 10), k);
});

test('digests that start at the same slot are told apart, and deleting one keeps the others reachable', () => {
  const cache = new PinCache(64);
  // Same first word: one probe run of 20 entries.
  for (let n = 0; n < 20; n++) cache.set(digest(0x12345678, n), pin(`b${n}`), now);
  // Digests differing only in the last word are different pins.
  const twin = digest(0x12345678, 3);
  twin[11] ^= 1;
  assert.equal(cache.get(twin, now), undefined);
  for (let n = 0; n < 20; n++) assert.equal(cache.get(digest(0x12345678, n), now)?.backend, `b${n}`);
  for (const n of [0, 7, 19]) assert.equal(cache.delete(digest(0x12345678, n)), true);
  assert.equal(cache.size, 17);
  for (let n = 0; n < 20; n++) {
    assert.equal(cache.get(digest(0x12345678, n), now)?.backend, [0, 7, 19].includes(n) ? undefined : `b${n}`, `entry ${n}`);
  }
});

test('runs that wrap around the end of the table survive deletes and evictions', () => {
  const cache = new PinCache(40);
  // The last first-word value maps to the last slot: its run wraps to slot 0 and on.
  const top = 0xffffffff;
  for (let n = 0; n < 10; n++) cache.set(digest(top, n), pin(`w${n}`), now);
  for (let n = 0; n < 10; n++) cache.set(digest(n, 100 + n), pin(`s${n}`), now);
  cache.delete(digest(top, 0));
  cache.delete(digest(0, 100));
  for (let n = 1; n < 10; n++) assert.equal(cache.get(digest(top, n), now)?.backend, `w${n}`);
  for (let n = 1; n < 10; n++) assert.equal(cache.get(digest(n, 100 + n), now)?.backend, `s${n}`);
  for (let i = 0; i < 500; i++) cache.set(pinDigest(`churn:${i}`), pin('next'), now);
  assert.equal(cache.size, 40);
  for (let i = 460; i < 500; i++) cache.get(pinDigest(`churn:${i}`), now);
});
