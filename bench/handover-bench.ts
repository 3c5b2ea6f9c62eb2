/**
 * Drain and hand-over figures (issue 16): what the drain counters cost a
 * create (µs per pin write, bytes per pin, counted against the same pin
 * writes uncounted), and how fast a hand-over runs with its rate unbounded,
 * a gateway process on Redis against the two reference backends.
 *
 * Standalone (small): `node bench/handover-bench.ts [--pins N] [--transactions N]`;
 * `npm run bench` runs it as the `handover` phase.
 */
import { performance } from 'node:perf_hooks';
import { RedisStore } from '../gateway/store/redis.ts';
import { ADMIN_TOKEN, freePort, scratchDir, startBackend, startGateway, startRedis } from './procs.ts';

export interface CounterCost { pins: number; usPerCreateCounted: number; usPerCreateUncounted: number; bytesPerPinCounted: number; bytesPerPinUncounted: number; countHashBytes: number }
export interface HandoverSpeed { transactions: number; seconds: number; perSecond: number; moved: number; failed: number }
export interface HandoverBench { counters: CounterCost; speed: HandoverSpeed; method: string }

const TTL_MS = 400 * 86_400_000;

async function used(store: RedisStore): Promise<number> {
  const info = await store.client.info('memory') as string;
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

/** Writes `pins` new pins under `kind` keys (t: counted, u: the same script without the count), 64 in flight. */
async function writePins(store: RedisStore, kind: 't' | 'u', pins: number): Promise<{ us: number; bytes: number }> {
  const before = await used(store);
  const started = performance.now();
  let next = 0;
  const now = Date.now();
  await Promise.all(Array.from({ length: 64 }, async () => {
    for (let i = next++; i < pins; i = next++) await store.pinIfAbsent(`${kind}:bench-${i}`, i % 2 ? 'legacy' : 'next', now);
  }));
  const seconds = (performance.now() - started) / 1000;
  return { us: (seconds * 1e6) / pins, bytes: ((await used(store)) - before) / pins };
}

export async function measureCounterCost(redisUrl: string, pins: number): Promise<CounterCost> {
  const counted = await RedisStore.connect({ url: redisUrl, prefix: 'benchc:', commandTimeoutMs: 5000, pinTtlMs: TTL_MS, pinBuckets: Math.max(16, Math.ceil(pins / 60)), backends: ['legacy', 'next'] });
  const plain = await RedisStore.connect({ url: redisUrl, prefix: 'benchu:', commandTimeoutMs: 5000, pinTtlMs: TTL_MS, pinBuckets: Math.max(16, Math.ceil(pins / 60)), backends: ['legacy', 'next'] });
  try {
    // Warm both (script cache, connections), then alternate halves so that neither runs only on a cold server.
    await writePins(plain, 'u', 1000); await writePins(counted, 't', 1000);
    const u = await writePins(plain, 'u', pins);
    const t = await writePins(counted, 't', pins);
    const countHashBytes = Number(await counted.client.memory('USAGE', 'benchc:pincount')) || 0;
    return { pins, usPerCreateCounted: t.us, usPerCreateUncounted: u.us, bytesPerPinCounted: t.bytes, bytesPerPinUncounted: u.bytes, countHashBytes };
  } finally {
    await counted.close(); await plain.close();
  }
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<any> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
  return r.json();
}

export async function measureHandoverSpeed(o: { dir: string; redisUrl: string; transactions: number }): Promise<HandoverSpeed> {
  const legacy = await startBackend('legacy', await freePort(), o.dir);
  const next = await startBackend('next', await freePort(), o.dir);
  const gw = await startGateway(o.dir, { name: 'handover-gw', backends: { legacy: legacy.url, next: next.url }, redisUrl: o.redisUrl, keyPrefix: 'benchho:', rules: { rules: [{ name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' }], default: 'legacy' }, logLevel: 'warn' });
  try {
    const M = 'M-bench';
    const rows: { merchant: string; apiVersion: string; transactionId: string; orderId: string }[] = new Array(o.transactions);
    let n = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      for (let i = n++; i < o.transactions; i = n++) {
        const order = `bench-ho-${i}`;
        const p = await post(`${gw.url}/api/v1/payments`, { out_trade_no: order, total_amount: '1.00', currency: 'CNY', subject: 'bench' }, { 'x-merchant-id': M });
        rows[i] = { merchant: M, apiVersion: 'v1', transactionId: p.trade_no, orderId: order };
      }
    }));
    for (let i = 0; i < rows.length; i += 1000) {
      const { payments } = await post(`${legacy.url}/_migration/export`, { merchant: M, ids: rows.slice(i, i + 1000).map((r) => r.transactionId) });
      await post(`${next.url}/_migration/import`, { payments });
    }
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const started = performance.now();
    let job = '';
    for (let i = 0; i < rows.length; i += 5000) {
      const more = i + 5000 < rows.length;
      if (!job) job = (await post(`${gw.adminUrl}/admin/handover`, { from: 'legacy', to: 'next', ratePerSecond: 10_000, more, transactions: rows.slice(i, i + 5000) }, auth)).job;
      else await post(`${gw.adminUrl}/admin/handover/${job}/transactions`, { more, transactions: rows.slice(i, i + 5000) }, auth);
    }
    for (;;) {
      const s = await (await fetch(`${gw.adminUrl}/admin/handover/${job}`, { headers: auth })).json();
      if (s.state !== 'running') {
        const seconds = (performance.now() - started) / 1000;
        return { transactions: o.transactions, seconds, perSecond: o.transactions / seconds, moved: s.moved, failed: s.failed };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await gw.child.stop(); await legacy.child.stop(); await next.child.stop();
  }
}

export async function measureHandover(o: { dir: string; redisUrl: string; pins: number; transactions: number }): Promise<HandoverBench> {
  return {
    counters: await measureCounterCost(o.redisUrl, o.pins),
    speed: await measureHandoverSpeed(o),
    method: `drain counters: ${o.pins} pinIfAbsent calls of transaction pins (counted) and of the same number of pins under a key kind that is not counted, through RedisStore, 64 in flight, INFO used_memory before and after; hand-over: ${o.transactions} v1 transactions created through a gateway process on Redis, copied to next by the reference backends' migration endpoints, then one job (rate limit 10,000/s, batches of 50) timed from its first POST until completed`,
  };
}

/** Markdown lines for BENCHMARKS.md. */
export function renderHandover(h: HandoverBench): string[] {
  const f = (n: number, d = 1) => n.toFixed(d);
  return [
    '| figure | value |', '| --- | --- |',
    `| create (transaction pin write) with its drain count | ${f(h.counters.usPerCreateCounted)} µs |`,
    `| the same pin write without a count | ${f(h.counters.usPerCreateUncounted)} µs |`,
    `| bytes per counted pin / uncounted pin | ${f(h.counters.bytesPerPinCounted)} / ${f(h.counters.bytesPerPinUncounted)} |`,
    `| the count hash (all pins of the store) | ${h.counters.countHashBytes} bytes |`,
    `| hand-over of ${h.speed.transactions} transactions | ${f(h.speed.seconds, 2)} s, ${Math.round(h.speed.perSecond)} per second (moved ${h.speed.moved}, failed ${h.speed.failed}) |`,
    '', `Method: ${h.method}.`, '',
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string, dflt: number) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : dflt; };
  const dir = scratchDir('handover');
  const redis = await startRedis(await freePort(), dir);
  try {
    const h = await measureHandover({ dir, redisUrl: redis.url, pins: arg('pins', 20_000), transactions: arg('transactions', 2000) });
    process.stdout.write(`${renderHandover(h).join('\n')}\n`);
  } finally {
    await redis.child.stop();
  }
}
