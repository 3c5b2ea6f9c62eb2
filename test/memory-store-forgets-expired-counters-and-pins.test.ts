import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../gateway/store/memory.ts';

test('counter windows past their TTL are deleted by later counter calls; live ones keep their counts', async () => {
  let now = 1_000_000;
  const store = new MemoryStore({ pinTtlMs: 60_000, now: () => now });
  // A day of per-minute split windows and per-step canary windows, each kept 6 minutes.
  for (let minute = 0; minute < 300; minute++) {
    await store.addCounters(`split:${minute}`, { 'r|next': 1 }, 360_000);
    if (minute % 10 === 0) await store.addCounters(`canary:run:${minute}`, { n: 5 }, 360_000);
  }
  assert.equal(store.held.counters, 330);

  now += 3_600_000; // all of them expired
  for (let i = 0; i < 40; i++) {
    await store.addCounters('split:live', { 'r|next': 1 }, 360_000);
    assert.deepEqual(await store.readCounters('split:live'), { 'r|next': i + 1 });
  }
  assert.equal(store.held.counters, 1, 'only the live window is left');
  assert.deepEqual(await store.readCounters('split:0'), {});
});

test('pins past their TTL are deleted as new pins are written; live pins stay readable', async () => {
  const ttl = 60_000;
  const store = new MemoryStore({ pinTtlMs: ttl });
  const t0 = 5_000_000;
  for (let i = 0; i < 500; i++) await store.pinIfAbsent(`old-${i}`, 'legacy', t0 + i);
  const later = t0 + ttl + 1000; // every old pin has expired
  for (let i = 0; i < 100; i++) await store.pinIfAbsent(`new-${i}`, 'next', later + i);
  assert.equal(store.held.pins, 100, 'the expired pins are gone, the new ones kept');
  assert.equal((await store.getPin('new-0', later + 100))?.backend, 'next');
  assert.equal(await store.getPin('old-0', later + 100), null);
  const again = await store.pinIfAbsent('new-7', 'legacy', later + 200);
  assert.deepEqual([again.created, again.backend], [false, 'next'], 'a live pin never moves');
});
