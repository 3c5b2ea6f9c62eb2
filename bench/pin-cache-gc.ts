/**
 * GC pauses with a full pin cache (issue 15): a child process fills a cache
 * of `--pins` entries (1,000,000 by default), then runs request-like work
 * for `--seconds`: a cached lookup per request, a new pin every fifth
 * (evicting one), short-lived garbage per request, and a ring of the last
 * 2,000 requests' state, some of which lives long enough to reach the old
 * generation, as a gateway's in-flight state does. Every GC pause is
 * recorded with perf_hooks. Before that, a forced full GC (non-incremental
 * mark-compact: the work a major GC must do, all in one pause) is timed on
 * the full cache: its bound on what a major GC can cost. `--impl typed` is gateway/pin-cache.ts;
 * `--impl lru` the lru-cache the gateway used before (when installed).
 * Prints one JSON line.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { constants, PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { parseArgs } from 'node:util';
import { setImmediate as turn } from 'node:timers/promises';
import { PinCache, pinDigest } from '../gateway/pin-cache.ts';
import type { Pin } from '../gateway/store/types.ts';

export interface CacheGcRun {
  impl: 'typed' | 'lru';
  pins: number; seconds: number; requests: number;
  fillSeconds: number;
  /** old_space bytes after a full GC, before and after filling the cache. */
  oldSpaceEmpty: number; oldSpaceFull: number;
  /** Bytes outside the JS heap's objects (the typed arrays) once full. */
  externalFull: number;
  major: { count: number; maxMs: number; totalMs: number };
  minor: { count: number; maxMs: number; totalMs: number };
  /** Every pause that was not a minor GC (major, incremental marking steps, weak callbacks). */
  otherMaxMs: number;
  /** A forced full GC on the full cache, median of three (ms). */
  fullGcMs: number;
}

interface Cache { get(key: string, now: number): Pin | undefined; set(key: string, pin: Pin, now: number): void }

async function makeCache(impl: 'typed' | 'lru', max: number): Promise<Cache> {
  if (impl === 'typed') {
    const c = new PinCache(max);
    return { get: (k, now) => c.get(pinDigest(k), now), set: (k, p, now) => { c.set(pinDigest(k), p, now); } };
  }
  const { LRUCache } = await import('lru-cache');
  const c = new LRUCache<string, Pin>({ max });
  return {
    get(k, now) { const p = c.get(k); if (p && p.expiresAt <= now) { c.delete(k); return undefined; } return p; },
    set: (k, p) => { c.set(k, p); },
  };
}

const oldSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;
const gcNow = () => (globalThis as { gc?: () => void }).gc?.();

async function child(impl: 'typed' | 'lru', pins: number, seconds: number): Promise<CacheGcRun> {
  gcNow();
  const oldSpaceEmpty = oldSpace();
  const cache = await makeCache(impl, pins);
  const now = Date.now();
  const ttl = 400 * 86_400_000;
  const started = performance.now();
  for (let i = 0; i < pins; i++) {
    cache.set(`t:pay_${i.toString(36)}`, { backend: i % 2 ? 'legacy' : 'next', pinnedAt: now, expiresAt: now + ttl }, now);
    if (i % 50_000 === 0) await turn();
  }
  const fillSeconds = Math.round((performance.now() - started) / 10) / 100;
  gcNow();
  const oldSpaceFull = oldSpace();
  const externalFull = process.memoryUsage().external;
  const full: number[] = [];
  for (let k = 0; k < 3; k++) {
    const t = performance.now();
    gcNow();
    full.push(performance.now() - t);
  }
  const fullGcMs = Math.round(full.sort((a, b) => a - b)[1] * 100) / 100;
  const pauses: { kind: number; ms: number }[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) pauses.push({ kind: e.detail?.kind ?? -1, ms: e.duration });
  });
  obs.observe({ entryTypes: ['gc'] });
  const ring: unknown[] = new Array(2_000);
  let requests = 0;
  let next = pins;
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    for (let j = 0; j < 200; j++, requests++) {
      const i = Math.floor(Math.random() * next);
      const hit = cache.get(`t:pay_${i.toString(36)}`, now);
      if (requests % 5 === 0) cache.set(`t:pay_${(next++).toString(36)}`, { backend: 'next', pinnedAt: now, expiresAt: now + ttl }, now);
      // A request's garbage: headers, a parsed body, a log line.
      const headers = { 'x-request-id': `r-${requests}`, 'x-merchant-id': `M-${requests % 200}`, 'content-type': 'application/json' };
      const body = JSON.parse(`{"out_trade_no":"o-${requests}","total_amount":"12.00","subject":"tea","n":${requests}}`);
      ring[requests % ring.length] = { headers, body, backend: hit?.backend, line: JSON.stringify(body) };
    }
    await turn();
  }
  await turn();
  obs.disconnect();
  const of = (kind: number) => {
    const xs = pauses.filter((p) => p.kind === kind).map((p) => p.ms);
    return { count: xs.length, maxMs: Math.round(Math.max(0, ...xs) * 100) / 100, totalMs: Math.round(xs.reduce((a, b) => a + b, 0) * 100) / 100 };
  };
  const others = pauses.filter((p) => p.kind !== constants.NODE_PERFORMANCE_GC_MINOR).map((p) => p.ms);
  return {
    impl, pins, seconds, requests, fillSeconds, oldSpaceEmpty, oldSpaceFull, externalFull,
    major: of(constants.NODE_PERFORMANCE_GC_MAJOR), minor: of(constants.NODE_PERFORMANCE_GC_MINOR),
    otherMaxMs: Math.round(Math.max(0, ...others) * 100) / 100, fullGcMs,
  };
}

/** Runs one implementation in a fresh process (with --expose-gc), so that no run inherits another's heap. */
export function measureCacheGc(o: { impl: 'typed' | 'lru'; pins: number; seconds: number }): Promise<CacheGcRun> {
  return new Promise((resolve, reject) => {
    const p = fork(fileURLToPath(import.meta.url), ['--impl', o.impl, '--pins', String(o.pins), '--seconds', String(o.seconds)], {
      execArgv: ['--expose-gc'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let out = '';
    let err = '';
    p.stdout!.on('data', (d) => { out += d; });
    p.stderr!.on('data', (d) => { err += d; });
    p.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(out.trim().split('\n').at(-1)!) as CacheGcRun);
      else reject(new Error(`pin-cache-gc (${o.impl}) exited ${code}: ${err.split('\n').find((l) => l.includes('Error')) ?? err.slice(0, 200)}`));
    });
  });
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { impl: { type: 'string', default: 'typed' }, pins: { type: 'string', default: '1000000' }, seconds: { type: 'string', default: '10' } } });
  const run = await child(values.impl === 'lru' ? 'lru' : 'typed', Number(values.pins), Number(values.seconds));
  process.stdout.write(`${JSON.stringify(run)}\n`);
}
