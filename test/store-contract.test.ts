/**
 * The Store contract, run unchanged against the embedded MemoryStore and the
 * RedisStore on a real redis-server: whatever a gateway instance relies on
 * must behave the same on both.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryStore } from '../gateway/store/memory.ts';
import { RedisStore, type RedisConnection } from '../gateway/store/redis.ts';
import { VersionConflictError, type ChangeEvent, type MerchantFlag, type Store } from '../gateway/store/types.ts';
import type { Ruleset } from '../gateway/rules.ts';
import { startRedis, startRedisCluster, startRedisSentinel, type TestRedis, type TestRedisGroup } from './helpers/redis.ts';

const TTL_MS = 3_600_000;
// Whole seconds, in the future: Redis keeps pin times in seconds and expires its hashes by wall clock.
const T0 = Math.ceil(Date.now() / 1000) * 1000 + 86_400_000;

const RULES_A: Ruleset = { rules: [{ name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' }], default: 'legacy' };
const RULES_B: Ruleset = {
  rules: [{ name: 'v1-canary', match: { apiVersion: 'v1' }, split: [{ backend: 'next', weight: 12.5 }, { backend: 'legacy', weight: 87.5 }], stickyBy: 'merchant' },
    { name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' }],
  default: 'next',
};

// One server, a three-master Cluster and a Sentinel-watched master with a replica, all real.
let redis: TestRedis;
let cluster: TestRedisGroup;
let sentinel: TestRedisGroup;
before(async () => { [redis, cluster, sentinel] = await Promise.all([startRedis(), startRedisCluster(), startRedisSentinel()]); });
after(async () => { await Promise.all([redis?.close(), cluster?.close(), sentinel?.close()]); });

type Topology = 'server' | 'cluster' | 'sentinel';
const reach = (t: Topology): RedisConnection => (t === 'server' ? { url: redis.url } : t === 'cluster' ? cluster.connection : sentinel.connection);

let prefixSeq = 0;
function connectRedis(prefix = `contract${process.pid}-${prefixSeq++}:`, topology: Topology = 'server', waitReplicas = 0): Promise<RedisStore> {
  return RedisStore.connect({ ...reach(topology), prefix, commandTimeoutMs: 2000, pinTtlMs: TTL_MS, backends: ['legacy', 'next'], waitReplicas });
}

const flag = (merchant: string, backend: string, comment?: string): MerchantFlag => ({
  merchant, backend, updatedAt: '2026-01-02T03:04:05.000Z', updatedBy: 'ops', ...(comment ? { comment } : {}),
});

function nextEvent(store: Store, timeoutMs = 2000): Promise<ChangeEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error('no event delivered')); }, timeoutMs);
    const off = store.subscribe((e) => { clearTimeout(timer); off(); resolve(e); });
  });
}

function contract(label: string, kind: 'memory' | 'redis', open: () => Promise<Store>): void {
  describe(label, () => {
    let store: Store;
    before(async () => { store = await open(); });
    after(async () => { await store.close(); });

    test('answers ping and says what it is', async () => {
      await store.ping();
      assert.equal(store.kind, kind);
    });

    test('live transactions are counted by the pin writes; a frozen pin moves once, with its count, only under its freeze', async () => {
      // Moves run on the wall clock (a freeze is a real second).
      const T = Math.floor(Date.now() / 1000) * 1000;
      const live = async () => { const c = await store.pinCounts(T + 1000); return [c.legacy?.live ?? 0, c.next?.live ?? 0]; };
      const [l0, n0] = await live();
      for (const k of ['t:count-1', 't:count-2', 't:count-3']) await store.pinIfAbsent(k, 'legacy', T);
      await store.pinIfAbsent('t:count-1', 'legacy', T); // found, not counted again
      // Claims with large tokens: their stored integers pass 14 digits, which a move must keep exact.
      // An order pin and a key pin are not transactions.
      assert.equal((await store.claimPins([{ key: 'o:M:count-order', tag: '2000001' }, { key: 'k:M:count-key', tag: '2000002:AbCd-_12' }], 'legacy', true, T)).claimed, true);
      assert.deepEqual(await live(), [l0 + 3, n0]);

      const keys = ['t:count-1', 'o:M:count-order', 'k:M:count-key'];
      const until = Date.now() + 1000;
      assert.deepEqual(await store.movePins('move', keys, 'legacy', 'next', until, Date.now()), ['lapsed', 'lapsed', 'lapsed']); // not frozen
      assert.deepEqual(await store.movePins('freeze', [...keys, 't:count-none'], 'legacy', 'next', until, Date.now()), ['done', 'done', 'done', 'absent']);
      assert.equal((await store.getPin('t:count-1', T + 1000))!.movingUntil, until);
      assert.deepEqual(await store.getPin('k:M:count-key', T + 1000), { backend: 'legacy', pinnedAt: T, expiresAt: T + TTL_MS, tag: '2000002:AbCd-_12', movingUntil: until });
      // A frozen claim is not joined: nothing is written, and it keeps its tag and its freeze.
      assert.deepEqual(await store.claimPins([{ key: 'o:M:count-order', tag: '2000003' }], 'legacy', true, T + 1000),
        { claimed: false, pins: [{ backend: 'legacy', pinnedAt: T, expiresAt: T + TTL_MS, tag: '2000001', movingUntil: until }] });
      assert.deepEqual(await store.movePins('move', keys, 'legacy', 'next', until + 1, Date.now()), ['lapsed', 'lapsed', 'lapsed']); // another freeze
      assert.deepEqual(await store.movePins('move', keys, 'legacy', 'next', until, Date.now()), ['done', 'done', 'done']);
      assert.deepEqual(await store.movePins('move', keys, 'legacy', 'next', until, Date.now()), ['already', 'already', 'already']);
      assert.deepEqual(await store.getPin('t:count-1', T + 1000), { backend: 'next', pinnedAt: T, expiresAt: T + TTL_MS });
      assert.deepEqual(await store.getPin('o:M:count-order', T + 1000), { backend: 'next', pinnedAt: T, expiresAt: T + TTL_MS, tag: '2000001' });
      assert.deepEqual(await store.getPin('k:M:count-key', T + 1000), { backend: 'next', pinnedAt: T, expiresAt: T + TTL_MS, tag: '2000002:AbCd-_12' });
      // The moved claim is still the one its create holds: its release finds it.
      assert.deepEqual(await store.releasePins([{ key: 'k:M:count-key', tag: '2000002:AbCd-_12' }], T + 1000), [true]);
      assert.deepEqual(await live(), [l0 + 2, n0 + 1]);
      // Past their expiry (and the end of its count slice) they are no longer live.
      const later = await store.pinCounts(T + TTL_MS + 2 * 86_400_000);
      assert.equal((later.legacy?.live ?? 0) + (later.next?.live ?? 0), 0);
    });

    test('pinIfAbsent pins once; a second claim gets the first backend', async () => {
      const first = await store.pinIfAbsent('t:once', 'legacy', T0);
      assert.deepEqual(first, { backend: 'legacy', pinnedAt: T0, expiresAt: T0 + TTL_MS, created: true });
      const second = await store.pinIfAbsent('t:once', 'next', T0 + 5000);
      assert.deepEqual(second, { backend: 'legacy', pinnedAt: T0, expiresAt: T0 + TTL_MS, created: false });
      assert.deepEqual(await store.getPin('t:once', T0 + 6000), { backend: 'legacy', pinnedAt: T0, expiresAt: T0 + TTL_MS });
      assert.equal(await store.getPin('t:never-pinned', T0), null);
    });

    test('racing claims for one key all get the same backend, and exactly one created it', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.pinIfAbsent('o:M1:race', i % 2 ? 'next' : 'legacy', T0)));
      assert.equal(results.filter((r) => r.created).length, 1);
      assert.equal(new Set(results.map((r) => r.backend)).size, 1);
    });

    test('a pin lives until pinnedAt + ttl by the caller\'s clock; after that the key may be pinned anew', async () => {
      await store.pinIfAbsent('t:expiring', 'legacy', T0);
      assert.equal((await store.getPin('t:expiring', T0 + TTL_MS - 1000))?.backend, 'legacy');
      assert.equal(await store.getPin('t:expiring', T0 + TTL_MS), null);
      const again = await store.pinIfAbsent('t:expiring', 'next', T0 + TTL_MS);
      assert.deepEqual(again, { backend: 'next', pinnedAt: T0 + TTL_MS, expiresAt: T0 + 2 * TTL_MS, created: true });
    });

    test('a create\'s claims are made together, tagged; a release deletes only pins still carrying its tag', async () => {
      const order = { key: 'o:M1:tagged', tag: '101' };
      const key = { key: 'k:M1:tagged-key', tag: '102:AbCd-_12' };
      assert.deepEqual(await store.claimPins([order, key], 'legacy', true, T0), {
        claimed: true,
        pins: [{ backend: 'legacy', pinnedAt: T0, expiresAt: T0 + TTL_MS, tag: '101', created: true },
          { backend: 'legacy', pinnedAt: T0, expiresAt: T0 + TTL_MS, tag: '102:AbCd-_12', created: true }],
      });
      assert.deepEqual(await store.releasePins([{ ...order, tag: '202' }, { ...key, tag: '102:other000' }, { key: 't:never-pinned', tag: '101' }], T0 + 1000), [false, false, false]);
      assert.deepEqual(await store.getPin(order.key, T0 + 1000), { backend: 'legacy', pinnedAt: T0, expiresAt: T0 + TTL_MS, tag: '101' });
      await store.pinIfAbsent('t:untagged', 'legacy', T0);
      assert.deepEqual(await store.releasePins([{ key: 't:untagged', tag: '101' }], T0), [false]);
      assert.deepEqual(await store.releasePins([order, key], T0 + 1000), [true, true]);
      assert.equal(await store.getPin(order.key, T0 + 1000), null);
      assert.equal(await store.getPin(key.key, T0 + 1000), null);
      // Released: the next claim of the order may go elsewhere.
      assert.equal((await store.claimPins([{ ...order, tag: '303' }], 'next', true, T0 + 2000)).pins[0]?.backend, 'next');
    });

    test('a claim that finds its pin joins it: the tag changes, the age does not, and the first claim\'s release misses', async () => {
      await store.claimPins([{ key: 'o:M1:join', tag: '101' }, { key: 'k:M1:join', tag: '102:AbCd-_12' }], 'legacy', true, T0);
      // The order pin decides (follow): the create goes to legacy though it asked for next.
      const joined = await store.claimPins([{ key: 'o:M1:join', tag: '201' }, { key: 'k:M1:join', tag: '202:AbCd-_12' }], 'next', true, T0 + 3000);
      assert.deepEqual(joined, {
        claimed: true,
        pins: [{ backend: 'legacy', pinnedAt: T0, expiresAt: T0 + TTL_MS, tag: '201', created: false },
          { backend: 'legacy', pinnedAt: T0, expiresAt: T0 + TTL_MS, tag: '202:AbCd-_12', created: false }],
      });
      assert.deepEqual(await store.releasePins([{ key: 'o:M1:join', tag: '101' }, { key: 'k:M1:join', tag: '102:AbCd-_12' }], T0 + 4000), [false, false]);
      assert.equal((await store.getPin('k:M1:join', T0 + 4000))?.tag, '202:AbCd-_12');
      // A key joined by a request without a fingerprint (a pin written before fingerprints) may be joined.
      assert.equal((await store.claimPins([{ key: 'k:M1:join', tag: '203' }], 'legacy', false, T0 + 5000)).claimed, true);
    });

    test('claims that may not go ahead write nothing: a key on another backend, with another fingerprint, or frozen', async () => {
      await store.claimPins([{ key: 'o:M1:first', tag: '101' }, { key: 'k:M1:used', tag: '102:AbCd-_12' }], 'legacy', true, T0);
      await store.claimPins([{ key: 'o:M1:elsewhere', tag: '103' }], 'next', true, T0);
      const keyPin = { backend: 'legacy', pinnedAt: T0, expiresAt: T0 + TTL_MS, tag: '102:AbCd-_12' };
      // The key is on legacy, the new order's create goes to next: neither pin is written.
      assert.deepEqual(await store.claimPins([{ key: 'o:M1:second', tag: '201' }, { key: 'k:M1:used', tag: '202:AbCd-_12' }], 'next', true, T0 + 1000),
        { claimed: false, pins: [null, keyPin] });
      assert.equal(await store.getPin('o:M1:second', T0 + 1000), null);
      // The order pin names next and the key is on legacy.
      assert.deepEqual(await store.claimPins([{ key: 'o:M1:elsewhere', tag: '201' }, { key: 'k:M1:used', tag: '202:AbCd-_12' }], 'legacy', true, T0 + 1000),
        { claimed: false, pins: [{ backend: 'next', pinnedAt: T0, expiresAt: T0 + TTL_MS, tag: '103' }, keyPin] });
      assert.equal((await store.getPin('o:M1:elsewhere', T0 + 1000))?.tag, '103', 'the order was not joined');
      // Another fingerprint on the same backend.
      assert.deepEqual(await store.claimPins([{ key: 'o:M1:first', tag: '201' }, { key: 'k:M1:used', tag: '202:ZZZZ-_12' }], 'legacy', true, T0 + 1000),
        { claimed: false, pins: [{ backend: 'legacy', pinnedAt: T0, expiresAt: T0 + TTL_MS, tag: '101' }, keyPin] });
      // Without follow the first pin must be on the backend given (a refund's key on its transaction's backend).
      assert.equal((await store.claimPins([{ key: 'k:M1:used', tag: '204:AbCd-_12' }], 'next', false, T0 + 1000)).claimed, false);
      assert.deepEqual(await store.getPin('k:M1:used', T0 + 1000), keyPin);
      assert.equal((await store.getPin('o:M1:first', T0 + 1000))?.tag, '101');
    });

    test('racing creates of one order and key: one makes both pins, every other joins them on its backend', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.claimPins(
        [{ key: 'o:M1:race-claims', tag: String(300 + i) }, { key: 'k:M1:race-claims', tag: `${300 + i}:AbCd-_12` }], i % 2 ? 'next' : 'legacy', true, T0)));
      assert.ok(results.every((r) => r.claimed));
      const pins = results.flatMap((r) => r.pins as { backend: string; created: boolean }[]);
      assert.equal(new Set(pins.map((p) => p.backend)).size, 1);
      assert.equal(pins.filter((p) => p.created).length, 2, 'the order pin and the key pin, made once each');
    });

    test('putRules numbers versions from 1, keeps every version and history, and refuses a stale ifVersion', async () => {
      assert.equal(await store.getRules(), null);
      const v1 = await store.putRules(RULES_A, { actor: 'config', ifVersion: 0, now: new Date('2026-01-01T00:00:00Z') });
      assert.equal(v1.version, 1);
      await assert.rejects(store.putRules(RULES_B, { actor: 'ops', ifVersion: 0, now: new Date() }),
        (err: unknown) => err instanceof VersionConflictError && err.current === 1);
      const v2 = await store.putRules(RULES_B, { actor: 'ops', comment: '灰度 canary 12.5 %', ifVersion: 1, now: new Date('2026-01-02T00:00:00Z') });
      assert.equal(v2.version, 2);
      const v3 = await store.putRules(RULES_A, { actor: 'canary', now: new Date('2026-01-03T00:00:00Z') });
      assert.equal(v3.version, 3);

      assert.deepEqual(await store.getRules(), { version: 3, updatedAt: '2026-01-03T00:00:00.000Z', updatedBy: 'canary', ruleset: RULES_A });
      assert.deepEqual(await store.getRulesVersion(2), { version: 2, updatedAt: '2026-01-02T00:00:00.000Z', updatedBy: 'ops', comment: '灰度 canary 12.5 %', ruleset: RULES_B });
      assert.equal(await store.getRulesVersion(4), null);
      assert.deepEqual(await store.rulesHistory(), [
        { version: 1, updatedAt: '2026-01-01T00:00:00.000Z', updatedBy: 'config' },
        { version: 2, updatedAt: '2026-01-02T00:00:00.000Z', updatedBy: 'ops', comment: '灰度 canary 12.5 %' },
        { version: 3, updatedAt: '2026-01-03T00:00:00.000Z', updatedBy: 'canary' },
      ]);
      await assert.rejects(store.putRules(RULES_B, { actor: 'ops', ifVersion: 2, now: new Date() }),
        (err: unknown) => err instanceof VersionConflictError && err.current === 3);
    });

    test('a ruleset with no rules (everything to the default) reads back as stored', async () => {
      const s = await open();
      try {
        const everythingToNext: Ruleset = { rules: [], default: 'next' };
        await s.putRules(everythingToNext, { actor: 'ops', now: new Date() });
        assert.deepEqual((await s.getRules())?.ruleset, everythingToNext);
        assert.deepEqual((await s.getRulesVersion(1))?.ruleset, everythingToNext);
      } finally {
        await s.close();
      }
    });

    test('flags: put and delete return the flag they replaced or removed', async () => {
      assert.equal(await store.getFlag('M-F1'), null);
      assert.equal(await store.putFlag(flag('M-F1', 'next', 'pilot')), null);
      assert.deepEqual(await store.putFlag(flag('M-F1', 'legacy')), flag('M-F1', 'next', 'pilot'));
      await store.putFlag(flag('M-F2', 'next'));
      assert.deepEqual(await store.getFlag('M-F1'), flag('M-F1', 'legacy'));
      const all = (await store.listFlags()).sort((a, b) => a.merchant.localeCompare(b.merchant));
      assert.deepEqual(all, [flag('M-F1', 'legacy'), flag('M-F2', 'next')]);
      assert.deepEqual(await store.deleteFlag('M-F1'), flag('M-F1', 'legacy'));
      assert.equal(await store.deleteFlag('M-F1'), null);
      assert.equal(await store.getFlag('M-F1'), null);
    });

    test('audit lists newest first, up to the limit', async () => {
      for (let i = 1; i <= 5; i++) {
        await store.appendAudit({ time: `2026-01-0${i}T00:00:00.000Z`, actor: 'ops', action: 'flags.put', target: `M-${i}`, before: null, after: { n: i } });
      }
      const last3 = await store.listAudit(3);
      assert.deepEqual(last3.map((e) => e.target), ['M-5', 'M-4', 'M-3']);
      assert.deepEqual(last3[0], { time: '2026-01-05T00:00:00.000Z', actor: 'ops', action: 'flags.put', target: 'M-5', before: null, after: { n: 5 } });
      assert.equal((await store.listAudit(100)).length, 5);
    });

    test('a published change reaches a subscriber; an unsubscribed handler hears nothing more', async () => {
      const heard: ChangeEvent[] = [];
      const off = store.subscribe((e) => heard.push(e));
      const delivered = nextEvent(store);
      await store.publish({ kind: 'rules', version: 7 });
      assert.deepEqual(await delivered, { kind: 'rules', version: 7 });
      assert.deepEqual(heard, [{ kind: 'rules', version: 7 }]);
      off();
      const again = nextEvent(store);
      await store.publish({ kind: 'flags', merchant: 'M-9' });
      assert.deepEqual(await again, { kind: 'flags', merchant: 'M-9' });
      assert.equal(heard.length, 1);
    });

    test('documents: compare-and-set by revision', async () => {
      assert.equal(await store.getDoc('canary'), null);
      assert.equal(await store.putDoc('canary', { step: 0 }, 0), 1);
      assert.equal(await store.putDoc('canary', { step: 9 }, 0), null, 'a stale revision must not write');
      assert.equal(await store.putDoc('canary', { step: 1 }, 1), 2);
      assert.deepEqual(await store.getDoc('canary'), { rev: 2, value: { step: 1 } });
    });

    test('leases: one owner at a time, renewable, released or expired for the next', async () => {
      assert.equal(await store.acquireLease('canary', 'a', 10_000), true);
      assert.equal(await store.acquireLease('canary', 'b', 10_000), false);
      assert.equal(await store.acquireLease('canary', 'a', 10_000), true, 'the holder renews');
      await store.releaseLease('canary', 'b');
      assert.equal(await store.acquireLease('canary', 'b', 10_000), false, 'only the holder releases');
      await store.releaseLease('canary', 'a');
      assert.equal(await store.acquireLease('canary', 'b', 80), true);
      await sleep(150);
      assert.equal(await store.acquireLease('canary', 'a', 10_000), true, 'an expired lease is free');
    });

    test('counters add up per name and vanish after their window', async () => {
      await store.addCounters('w1', { requests: 3, errors: 1 }, 10_000);
      await store.addCounters('w1', { requests: 4 }, 10_000);
      await store.addCounters('w2', { requests: 1 }, 10_000);
      assert.deepEqual(await store.readCounters('w1'), { requests: 7, errors: 1 });
      assert.deepEqual(await store.readCounters('w2'), { requests: 1 });
      assert.deepEqual(await store.readCounters('none'), {});
      await store.addCounters('short', { requests: 2 }, 80);
      await sleep(150);
      assert.deepEqual(await store.readCounters('short'), {});
    });
  });
}

contract('memory store', 'memory', async () => new MemoryStore({ pinTtlMs: TTL_MS }));
contract('redis store, one server', 'redis', () => connectRedis());
contract('redis store on a Redis Cluster', 'redis', () => connectRedis(undefined, 'cluster'));
contract('redis store through Sentinel', 'redis', () => connectRedis(undefined, 'sentinel'));
contract('redis store through Sentinel, pins waiting for the replica', 'redis', () => connectRedis(undefined, 'sentinel', 1));

describe('redis store across instances', () => {
  for (const topology of ['server', 'cluster', 'sentinel'] as const) test(`(${topology}) a change published by one instance reaches another sharing the prefix, and not one with another prefix`, async () => {
    const prefix = `shared${process.pid}-${topology}:`;
    const [a, b, other] = await Promise.all([connectRedis(prefix, topology), connectRedis(prefix, topology), connectRedis(undefined, topology)]);
    try {
      let strayEvents = 0;
      other.subscribe(() => strayEvents++);
      const atB = nextEvent(b);
      await a.publish({ kind: 'rules', version: 2 });
      assert.deepEqual(await atB, { kind: 'rules', version: 2 });
      const pin = await a.pinIfAbsent('t:shared', 'next', T0);
      assert.deepEqual(await b.getPin('t:shared', T0), { backend: 'next', pinnedAt: pin.pinnedAt, expiresAt: pin.expiresAt });
      assert.equal(await other.getPin('t:shared', T0), null);
      await sleep(50);
      assert.equal(strayEvents, 0);
    } finally {
      await Promise.all([a.close(), b.close(), other.close()]);
    }
  });
});
