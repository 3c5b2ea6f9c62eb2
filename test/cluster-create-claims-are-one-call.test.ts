/**
 * On a real three-master Redis Cluster a create's claims (order number and
 * idempotency key) are one script call: a store first used on the Cluster
 * lays them out under their merchant's hash tag. A Cluster store whose layout
 * was fixed before that keeps it, every pin in it stays readable, and its
 * claims go one call each where their slots differ, all or none as before.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import { RedisStore } from '../gateway/store/redis.ts';
import { defaultLayout, pinSlot } from '../gateway/store/pin-layout.ts';
import { startRedisCluster, type TestRedisCluster } from './helpers/redis.ts';

const TTL_MS = 3_600_000;
let cluster: TestRedisCluster;
before(async () => { cluster = await startRedisCluster(); });
after(async () => { await cluster?.close(); });

let seq = 0;
const connect = (prefix: string) => RedisStore.connect({ ...cluster.connection, prefix, commandTimeoutMs: 2000, pinTtlMs: TTL_MS, backends: ['legacy', 'next'] });

/**
 * Script calls that touch pin hashes, sent to the Cluster's masters while `work` ran, from
 * MONITOR on each (the store's own settling scripts touch no pin hash).
 */
async function scriptCalls(store: RedisStore, work: () => Promise<unknown>): Promise<number> {
  const masters = (store.client as Cluster).nodes('master');
  const marker = `end-${process.pid}-${seq++}`;
  let calls = 0;
  const monitors = await Promise.all(masters.map((m) => m.monitor()));
  const ended = monitors.map((monitor) => new Promise<void>((resolve) => {
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) resolve();
      else if (source !== 'lua' && /^eval/i.test(args[0]) && args.some((a) => a.includes('pin:{'))) calls++;
    });
  }));
  try {
    await work();
    await Promise.all(masters.map((m) => m.echo(marker)));
    await Promise.all(ended);
  } finally {
    for (const monitor of monitors) monitor.disconnect();
  }
  return calls;
}

test('a Cluster store first used now keeps a create\'s claims in one slot: one script call claims both, one releases both', async () => {
  const store = await connect(`claims${process.pid}-${seq++}:`);
  try {
    assert.equal(store.layout.claims, 'merchant');
    const now = Date.now();
    const claims = [{ key: 'o:M-C1:ORDER-1', tag: '101' }, { key: 'k:M-C1:key-1', tag: '102:AbCd-_12' }];
    let claimed;
    assert.equal(await scriptCalls(store, async () => { claimed = await store.claimPins(claims, 'next', true, now); }), 1);
    assert.equal(claimed!.claimed, true);
    assert.equal((await store.getPin('k:M-C1:key-1', now))?.backend, 'next');
    assert.equal(await scriptCalls(store, () => store.releasePins(claims, now)), 1);
    assert.equal(await store.getPin('o:M-C1:ORDER-1', now), null);
  } finally {
    await store.close();
  }
});

test('a Cluster store laid out before keeps its layout: claims in different slots go one call each, and a refused key takes back the order it made', async () => {
  const prefix = `claims${process.pid}-${seq++}:`;
  // The layout as the store recorded it before claims had a field of their own.
  const old = defaultLayout(Math.ceil(TTL_MS / 1000));
  const seed = await connect(`seed${process.pid}-${seq++}:`);
  await seed.client.hset(`${prefix}pinlayout`, 'windowSeconds', old.windowSeconds, 'buckets', old.buckets);
  await seed.close();
  const store = await connect(prefix);
  try {
    assert.equal(store.layout.claims, 'digest');
    const now = Date.now();
    // An order and a key of one merchant whose buckets fall in different slots.
    const slotOf = (key: string) => calculateSlot(`{${pinSlot(key, store.layout).bucket}}`);
    let n = 0;
    while (slotOf(`o:M-C2:ORDER-${n}`) === slotOf(`k:M-C2:key-${n}`)) n++;
    const order = { key: `o:M-C2:ORDER-${n}`, tag: '101' };
    await store.pinIfAbsent(`t:old-${n}`, 'legacy', now);
    assert.equal((await store.getPin(`t:old-${n}`, now))?.backend, 'legacy', 'pins written in the old layout are read');

    assert.equal(await scriptCalls(store, () => store.claimPins([order, { key: `k:M-C2:key-${n}`, tag: '102:AbCd-_12' }], 'next', true, now)), 2);
    assert.equal((await store.getPin(order.key, now))?.tag, '101');
    // The key is on next; a new order that would go to legacy with it is refused, and its order pin taken back.
    let m = 0;
    while (slotOf(`o:M-C2:SECOND-${m}`) === slotOf(`k:M-C2:key-${n}`)) m++;
    const second = { key: `o:M-C2:SECOND-${m}`, tag: '201' };
    let refused;
    // The order claimed, the key refused, the order released.
    assert.equal(await scriptCalls(store, async () => { refused = await store.claimPins([second, { key: `k:M-C2:key-${n}`, tag: '202:AbCd-_12' }], 'legacy', true, now); }), 3);
    assert.equal(refused!.claimed, false);
    assert.equal(refused!.pins[1]?.backend, 'next');
    assert.equal(await store.getPin(second.key, now), null, 'nothing left of the refused claims');
  } finally {
    await store.close();
  }
});
