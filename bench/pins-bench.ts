/**
 * Pins in Redis: how fast the store answers pin claims and lookups (through
 * the real RedisStore, many commands in flight on its one connection, as
 * the gateway runs them), how fast the in-process cache answers, and the
 * memory per pin (bench/pin-memory.ts, a million pins by default).
 */
import { performance } from 'node:perf_hooks';
import { PinService, pinKey } from '../gateway/pins.ts';
import { RedisStore } from '../gateway/store/redis.ts';

export interface PinRates {
  prefilled: number;
  concurrency: number;
  claimsPerSec: number;
  lookupsFoundPerSec: number;
  lookupsAbsentPerSec: number;
  cachedLookupsPerSec: number;
}

export interface PinMemory {
  pins: number; bytesPerPin: number; usedMemoryBefore: number; usedMemoryAfter: number;
  method: string; hashMaxListpackEntries: string; seconds?: number;
  /** Each kind of pin alone, as full hashes as in the mixed run (bench/pin-memory.ts). */
  byKind?: { kind: string; value: string; pins: number; bytesPerPin: number }[];
}

const TTL_MS = 400 * 86_400_000;

/** Runs `op(i)` with `concurrency` in flight until `count` calls or `seconds` pass; returns calls per second. */
async function rate(op: (i: number) => Promise<unknown>, o: { concurrency: number; seconds: number; count?: number }): Promise<{ perSec: number; done: number }> {
  const started = performance.now();
  const until = started + o.seconds * 1000;
  let i = 0;
  const lane = async () => {
    while (performance.now() < until && (o.count === undefined || i < o.count)) await op(i++);
  };
  await Promise.all(Array.from({ length: o.concurrency }, lane));
  return { perSec: Math.round(i / ((performance.now() - started) / 1000)), done: i };
}

/** Claims `prefill` pins, then measures lookups of present and absent keys, each for `seconds`. */
export async function measurePinRates(o: { redisUrl: string; seconds: number; prefill: number; concurrency: number }): Promise<PinRates> {
  const prefix = `bench-pins-${Date.now().toString(36)}:`;
  const store = await RedisStore.connect({ url: o.redisUrl, prefix, commandTimeoutMs: 5000, pinTtlMs: TTL_MS, backends: ['legacy', 'next'] });
  try {
    const now = Date.now();
    const key = (i: number) => pinKey.transaction(`pay_bench${i.toString(36).padStart(8, '0')}`);
    const claims = await rate((i) => store.pinIfAbsent(key(i), i % 2 ? 'legacy' : 'next', now), { concurrency: o.concurrency, seconds: 600, count: o.prefill });
    const found = await rate((i) => store.getPin(key(i % o.prefill), now), { concurrency: o.concurrency, seconds: o.seconds });
    const absent = await rate((i) => store.getPin(pinKey.transaction(`pay_absent${i}`), now), { concurrency: o.concurrency, seconds: o.seconds });
    const service = new PinService(store, { cacheSize: 100_000, ttlMs: TTL_MS });
    for (let i = 0; i < 1000; i++) await service.lookup(key(i));
    const cached = await rate((i) => service.lookup(key(i % 1000)), { concurrency: 1, seconds: Math.min(2, o.seconds) });
    await store.client.eval(`for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('UNLINK', k) end`, 0, `${prefix}*`);
    return {
      prefilled: claims.done, concurrency: o.concurrency, claimsPerSec: claims.perSec,
      lookupsFoundPerSec: found.perSec, lookupsAbsentPerSec: absent.perSec, cachedLookupsPerSec: cached.perSec,
    };
  } finally {
    await store.close();
  }
}

/** bench/pin-memory.ts when present and working; otherwise why not. */
export async function measurePinMemoryIfAvailable(o: { count: number; redisUrl: string }): Promise<PinMemory | { notMeasured: string }> {
  let mod: { measurePinMemory?: (o: { count: number; redisUrl: string }) => Promise<PinMemory> };
  try {
    mod = await import('./pin-memory.ts');
  } catch (err) {
    return { notMeasured: `bench/pin-memory.ts could not be loaded (${(err as Error).message.split('\n')[0]})` };
  }
  if (typeof mod.measurePinMemory !== 'function') return { notMeasured: 'bench/pin-memory.ts does not export measurePinMemory' };
  try {
    return await mod.measurePinMemory({ count: o.count, redisUrl: o.redisUrl });
  } catch (err) {
    return { notMeasured: `measurePinMemory failed: ${(err as Error).message}` };
  }
}
