import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startRedis, type TestRedis } from './helpers/redis.ts';
import { RedisStore } from '../gateway/store/redis.ts';
import {
  defaultLayout, packPin, pinSlot, unpackPin, windowExpiresIn, windowKey, MAX_BACKEND_CODES, MAX_CLAIM_TOKEN, CLAIM_SPREAD,
} from '../gateway/store/pin-layout.ts';

const DAY = 86_400;
const TTL = 400 * DAY;
const layout = defaultLayout(TTL);
const windowOf = (sec: number) => Math.floor(sec / layout.windowSeconds);

test('a window hash lives until the last pin it can hold has expired', () => {
  for (let i = 0; i < 1000; i++) {
    const now = 1_700_000_000 + Math.floor(Math.random() * 1e8);
    const w = windowOf(now);
    const lastPossiblePin = (w + 1) * layout.windowSeconds - 1;
    assert.ok(now + windowExpiresIn(now, w, TTL, layout) > lastPossiblePin + TTL);
    assert.ok(windowExpiresIn(now, w, TTL, layout) <= TTL + layout.windowSeconds + 60);
  }
});

test('pack and unpack keep the backend code and the second of creation', () => {
  for (let i = 0; i < 2000; i++) {
    const code = Math.floor(Math.random() * MAX_BACKEND_CODES);
    const now = 1_700_000_000 + Math.floor(Math.random() * 1e8);
    const w = windowOf(now);
    const packed = packPin(code, now, w, layout);
    assert.match(packed, /^\d+$/);
    assert.ok(Number(packed) < 2 ** 32, 'fits a 32-bit listpack integer');
    assert.deepEqual(unpackPin(packed, w, layout), { code, pinnedAtSec: now });
  }
});

test('a claim token rides inside the integer, a fingerprint after it, and both come back unchanged', () => {
  for (let i = 0; i < 2000; i++) {
    const code = Math.floor(Math.random() * MAX_BACKEND_CODES);
    const now = 1_700_000_000 + Math.floor(Math.random() * 1e8);
    const w = windowOf(now);
    const token = String(1 + Math.floor(Math.random() * (MAX_CLAIM_TOKEN - 1)));
    const order = packPin(code, now, w, layout, token);
    assert.match(order, /^\d+$/, 'an order claim stays an integer');
    assert.ok(Number(order) < 2 ** 53, 'exact in a Lua double');
    assert.deepEqual(unpackPin(order, w, layout), { code, pinnedAtSec: now, tag: token });
    const key = packPin(code, now, w, layout, `${token}:AbCd-_12`);
    assert.match(key, /^\d+:AbCd-_12$/);
    assert.deepEqual(unpackPin(key, w, layout), { code, pinnedAtSec: now, tag: `${token}:AbCd-_12` });
    // A hand-over freeze sits between the integer and the fingerprint (pin-moves.ts).
    const frozen = key.replace(':', '!1800000000123:');
    assert.deepEqual(unpackPin(frozen, w, layout), { code, pinnedAtSec: now, tag: `${token}:AbCd-_12`, movingUntil: 1_800_000_000_123 });
  }
  assert.throws(() => packPin(1, 1_700_000_123, windowOf(1_700_000_123), layout, 'not-a-token'));
});

test('a pin key maps to a fixed 16-character field and a bucket; all windows of a bucket share one Cluster hash tag', () => {
  const a = pinSlot('o:M1:ORDER-1', layout);
  assert.deepEqual(pinSlot('o:M1:ORDER-1', layout), a);
  assert.match(a.field, /^[A-Za-z0-9_-]{16}$/);
  assert.notEqual(pinSlot('o:M1:ORDER-2', layout).field, a.field);
  const counts = new Array(16).fill(0);
  for (let i = 0; i < 16_000; i++) counts[pinSlot(`t:pay_${i}`, { ...layout, buckets: 16 }).bucket]++;
  for (const c of counts) assert.ok(c > 800 && c < 1200, `bucket sizes ${counts.join(',')}`);
  const tags = new Set([1, 2, 3].map((w) => /\{([^}]*)\}/.exec(windowKey('cutover:', a.home, w))![1]));
  assert.deepEqual([...tags], [String(a.bucket)]);
});

test('on a merchant layout a create\'s claims share their merchant\'s hash tag; transaction pins keep their bucket\'s', () => {
  const byMerchant = { ...layout, claims: 'merchant' as const };
  const tagOf = (key: string) => /\{([^}]*)\}/.exec(windowKey('cutover:', pinSlot(key, byMerchant).home, 7))![1];
  assert.equal(tagOf('o:M1:ORDER-1'), 'm:M1');
  assert.equal(tagOf('k:M1:some-key'), 'm:M1');
  assert.equal(tagOf('o:M2:ORDER-1'), 'm:M2');
  assert.equal(tagOf('t:pay_1'), String(pinSlot('t:pay_1', byMerchant).bucket));
  // Spread over CLAIM_SPREAD hashes per merchant, and the digest field is the same on either layout.
  const homes = new Set(Array.from({ length: 2000 }, (_, i) => pinSlot(`o:M1:ORDER-${i}`, byMerchant).home));
  assert.equal(homes.size, CLAIM_SPREAD);
  assert.equal(pinSlot('o:M1:ORDER-1', byMerchant).field, pinSlot('o:M1:ORDER-1', layout).field);
});

let redis: TestRedis;
let store: RedisStore;
before(async () => {
  redis = await startRedis();
  store = await RedisStore.connect({ url: redis.url, prefix: 'layout:', commandTimeoutMs: 1000, pinTtlMs: TTL * 1000, pinBuckets: 4, backends: ['legacy', 'next'] });
});
after(async () => { await store.close(); await redis.close(); });

test('in Redis: pins are small fields of listpack-encoded hashes, set-if-absent, and read back with backend and time', async () => {
  const now = Date.now();
  const pinned = await Promise.all(Array.from({ length: 300 }, (_, i) => store.pinIfAbsent(`t:pay_${i}`, i % 2 ? 'next' : 'legacy', now)));
  assert.ok(pinned.every((p) => p.created));
  const keys = await store.client.keys('layout:pin:*');
  assert.equal(keys.length, 4);
  let fields = 0;
  for (const k of keys) {
    assert.equal(await store.client.object('ENCODING', k), 'listpack');
    const all = await store.client.hgetall(k);
    for (const [f, v] of Object.entries(all)) { assert.equal(f.length, 16); assert.match(v, /^\d+$/); }
    fields += Object.keys(all).length;
    assert.ok((await store.client.ttl(k)) > TTL);
  }
  assert.equal(fields, 300);
  const again = await store.pinIfAbsent('t:pay_1', 'legacy', now + 5000);
  assert.deepEqual({ backend: again.backend, created: again.created }, { backend: 'next', created: false });
  assert.equal(again.pinnedAt, Math.floor(now / 1000) * 1000);
  assert.equal(again.expiresAt, again.pinnedAt + TTL * 1000);
  assert.equal(await store.getPin('t:pay_1', now + TTL * 1000), null);
  assert.equal(await store.getPin('t:pay_unknown', now), null);
});

test('in Redis: a lookup reads the window ahead and every window a live pin may be in, newest first: 17 or 18 hashes for a 400-day TTL', async () => {
  assert.equal(store.layout.windowSeconds, Math.ceil(TTL / 15));
  const probe = new Redis(redis.url);
  const monitor = await probe.monitor();
  const read: number[] = [];
  const marker = `end-${Date.now()}`;
  const ended = new Promise<void>((resolve) => monitor.on('monitor', (_t: string, args: string[]) => {
    if (args[0] === 'echo' && args[1] === marker) resolve();
    else if (args[0].toLowerCase() === 'hget') read.push(Number(/:(\d+)$/.exec(args[1])![1]));
  }));
  try {
    const nowSec = 1_780_000_123;
    assert.equal(await store.getPin('t:pay_absent', nowSec * 1000), null);
    await probe.echo(marker);
    await ended;
    const windowOf = (sec: number) => Math.floor(sec / store.layout.windowSeconds);
    assert.ok(read.length === 17 || read.length === 18, `${read.length} windows`);
    assert.equal(read[0], windowOf(nowSec) + 1);
    read.forEach((w, i) => i > 0 && assert.equal(w, read[i - 1] - 1));
    assert.equal(read.at(-1), windowOf(nowSec - TTL), 'the oldest window read may still hold a live pin');
  } finally {
    monitor.disconnect();
    probe.disconnect();
  }
});

test('in Redis: every pin still alive at a moment is found then, and none past its TTL', async () => {
  const now = Date.now();
  for (let i = 0; i < 200; i++) {
    const age = Math.floor(Math.random() * TTL) * 1000;
    const key = `t:aged_${i}`;
    const pinnedAt = now - age;
    await store.pinIfAbsent(key, 'legacy', pinnedAt);
    assert.equal((await store.getPin(key, now))?.backend, 'legacy', `a pin ${age / 1000} s old`);
    const pinnedAtSec = Math.floor(pinnedAt / 1000) * 1000;
    assert.equal(await store.getPin(key, pinnedAtSec + TTL * 1000), null);
  }
});
