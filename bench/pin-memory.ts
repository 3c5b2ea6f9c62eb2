/**
 * Pin memory: how many bytes of Redis memory one pin costs in the layout of
 * gateway/store/pin-layout.ts. Writes `count` pins with realistic keys through
 * the real RedisStore into a fresh key prefix, and compares INFO memory
 * `used_memory` before and after. The pins are deleted again at the end.
 *
 *   node bench/pin-memory.ts --count 1000000 [--redis redis://127.0.0.1:6379]
 *                            [--spread-days 399] [--buckets 1024]
 *
 * Without --redis a private redis-server is started on a free port. By default
 * every pin is made now, so they share one time window: the figure is for a
 * window holding `count` pins. --spread-days spreads creation times back over
 * that many days (the steady state of a store holding `count` live pins), and
 * --buckets sets the bucket count of the fresh layout (see pin-layout.ts, Size).
 *
 * Then each kind of pin alone (`byKind`): a tenth as many pins of one kind,
 * with a tenth of the buckets so that the hashes are as full as in the mixed
 * run. Pins differ only in their value (the field is a fixed-size digest), so
 * the differences between kinds are what a claim's tag costs: the claim token
 * of an order pin, the request fingerprint and token of an idempotency key.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { RedisStore } from '../gateway/store/redis.ts';
import { claimToken, keyTag, requestFingerprint } from '../gateway/data/claims.ts';
import { startRedis } from '../test/helpers/redis.ts';
import { DEFAULT_BUCKETS } from '../gateway/store/pin-layout.ts';

export interface PinMemoryResult {
  pins: number;
  bytesPerPin: number;
  usedMemoryBefore: number;
  usedMemoryAfter: number;
  method: string;
  hashMaxListpackEntries: string;
  /** Pin hashes by OBJECT ENCODING (every one is checked); all should be listpack. */
  encodings: Record<string, number>;
  hashes: number;
  /** Fields of the fullest hash: it must stay under hash-max-listpack-entries. */
  maxHashLength: number;
  seconds: number;
  /** Each kind of pin alone, at the same pins per hash: what its stored value costs. */
  byKind?: PinKindMemory[];
}

export interface PinKindMemory { kind: string; value: string; pins: number; bytesPerPin: number }

const TTL_MS = 400 * 86_400_000;
const BATCH = 2_000;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function text(n: number, alphabet = ALPHABET): string {
  const bytes = randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[bytes[i] % alphabet.length];
  return s;
}

type Kind = 'order' | 'transaction' | 'key';
interface PinWrite { key: string; backend: string; tag?: string }

/** One pin of `kind` as the gateway writes it: an order or key claim with its tag, a transaction id without. */
function pinOf(kind: Kind, merchant: string, onNext: boolean): PinWrite {
  const backend = onNext ? 'next' : 'legacy';
  if (kind === 'order') return { key: `o:${merchant}:ORD${Date.now().toString(36)}${text(10)}`, backend, tag: claimToken() };
  if (kind === 'transaction') return { key: onNext ? `t:pay_${text(24)}` : `t:2026${text(12, '0123456789')}`, backend };
  const body = Buffer.from(JSON.stringify({ merchantOrderId: text(16), amount: { value: 1234, currency: 'CNY' } }));
  const fingerprint = requestFingerprint('POST', '/api/v2/payments', merchant, body);
  return { key: `k:${merchant}:${randomBytes(16).toString('hex')}`, backend, tag: keyTag(fingerprint, claimToken()) };
}

/**
 * The pins of one transaction, as the gateway writes them: the order number,
 * the returned transaction id (next: `pay_` + 24 characters, legacy: 16
 * digits) and, for v2 creates, the Idempotency-Key. With `only`, pins of that kind alone.
 */
function* pinKeys(count: number, only?: Kind): Generator<PinWrite> {
  let n = 0;
  while (n < count) {
    const merchant = `M${100_000 + (n % 5_000)}`;
    const onNext = n % 2 === 0;
    if (only) { yield pinOf(only, merchant, onNext); n++; continue; }
    yield pinOf('order', merchant, onNext);
    if (++n >= count) return;
    yield pinOf('transaction', merchant, onNext);
    if (++n >= count) return;
    if (onNext) { yield pinOf('key', merchant, onNext); n++; }
  }
}

/** What each kind stores after the packed integer. */
const KIND_VALUES: Record<Kind, string> = {
  transaction: 'an integer below 2^32',
  order: 'an integer below 2^53 (the claim token inside)',
  key: 'the order pin\'s integer + ":" + 8-character request fingerprint',
};

async function usedMemory(store: RedisStore): Promise<number> {
  const info = await store.client.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

async function scanKeys(store: RedisStore, match: string, onBatch: (keys: string[]) => Promise<void>): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await store.client.scan(cursor, 'MATCH', match, 'COUNT', 5_000);
    cursor = next;
    if (keys.length > 0) await onBatch(keys);
  } while (cursor !== '0');
}

/** Writes `count` pins (a mix as the gateway makes them), then each kind alone, and measures the memory they take. */
export async function measurePinMemory(opts: { count: number; redisUrl: string; spreadDays?: number; buckets?: number }): Promise<PinMemoryResult> {
  const mixed = await measureOnce(opts);
  const buckets = opts.buckets ?? DEFAULT_BUCKETS;
  const byKind: PinKindMemory[] = [];
  for (const kind of ['transaction', 'order', 'key'] as const) {
    const count = Math.max(1, Math.round(opts.count / 10));
    const r = await measureOnce({ ...opts, count, buckets: Math.max(1, Math.round(buckets / 10)) }, kind);
    byKind.push({ kind, value: KIND_VALUES[kind], pins: r.pins, bytesPerPin: r.bytesPerPin });
  }
  return { ...mixed, byKind };
}

async function measureOnce(opts: { count: number; redisUrl: string; spreadDays?: number; buckets?: number }, only?: Kind): Promise<PinMemoryResult> {
  const spreadMs = (opts.spreadDays ?? 0) * 86_400_000;
  const prefix = `pinbench${randomBytes(4).toString('hex')}:`;
  const store = await RedisStore.connect({
    url: opts.redisUrl, prefix, commandTimeoutMs: 10_000, pinTtlMs: TTL_MS, backends: ['legacy', 'next'],
    ...(opts.buckets ? { pinBuckets: opts.buckets } : {}),
  });
  try {
    const config = await store.client.config('GET', 'hash-max-listpack-entries') as string[];
    const hashMaxListpackEntries = config[1] ?? 'unknown';
    const started = performance.now();
    const now = Date.now();
    const before = await usedMemory(store);
    let batch: Promise<unknown>[] = [];
    let pins = 0;
    for (const { key, backend, tag } of pinKeys(opts.count, only)) {
      const at = now - (spreadMs * pins) / opts.count;
      batch.push(tag === undefined ? store.pinIfAbsent(key, backend, at) : store.claimPins([{ key, tag }], backend, false, at));
      pins++;
      if (batch.length >= BATCH) { await Promise.all(batch); batch = []; }
    }
    await Promise.all(batch);
    const after = await usedMemory(store);
    const seconds = (performance.now() - started) / 1000;

    const encodings: Record<string, number> = {};
    let hashes = 0;
    let maxHashLength = 0;
    await scanKeys(store, `${prefix}pin:*`, async (keys) => {
      const p = store.client.pipeline();
      for (const k of keys) p.object('ENCODING', k).hlen(k);
      const replies = (await p.exec())!;
      for (let i = 0; i < replies.length; i += 2) {
        const enc = String(replies[i][1]);
        encodings[enc] = (encodings[enc] ?? 0) + 1;
        maxHashLength = Math.max(maxHashLength, Number(replies[i + 1][1]));
      }
      hashes += keys.length;
    });
    // DEL, not UNLINK: a lazy free still under way would give memory back during the next measurement.
    await scanKeys(store, `${prefix}*`, async (keys) => { await store.client.del(...keys); });

    return {
      pins, bytesPerPin: Math.round(((after - before) / pins) * 100) / 100,
      usedMemoryBefore: before, usedMemoryAfter: after,
      method: `INFO memory used_memory before and after ${pins} pin writes through RedisStore (pinIfAbsent, claimPins for claims) (${store.layout.buckets} buckets, ${store.layout.windowSeconds} s windows, ttl 400 days), creation times ${opts.spreadDays ? `spread over the last ${opts.spreadDays} days` : 'all now'}, batches of ${BATCH} in flight`,
      hashMaxListpackEntries, encodings, hashes, maxHashLength, seconds: Math.round(seconds * 10) / 10,
    };
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { count: { type: 'string', default: '1000000' }, redis: { type: 'string' }, 'spread-days': { type: 'string', default: '0' }, buckets: { type: 'string' } } });
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1) throw new Error('--count must be a positive integer');
  const redis = values.redis ? null : await startRedis();
  try {
    const result = await measurePinMemory({ count, redisUrl: values.redis ?? redis!.url, spreadDays: Number(values['spread-days']), buckets: values.buckets ? Number(values.buckets) : undefined });
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await redis?.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => { console.error(err); process.exitCode = 1; });
}
