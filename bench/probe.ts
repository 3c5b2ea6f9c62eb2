/**
 * Preloaded into a benchmark child (`node --import ./bench/probe.ts`) when
 * BENCH_PROBE_PORT is set: event-loop delay and GC pauses of that process,
 * and its heap spaces, on http://127.0.0.1:PORT/. Each read returns what
 * happened since the previous one and starts over. `?gc=1` runs a full GC
 * first (the process must run with --expose-gc), so that the heap figures
 * are what is retained, not garbage not yet collected. The same for every
 * column, so that (b) is measured exactly as the gateway is.
 */
import { createServer } from 'node:http';
import { constants, monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

export interface GcKindTotals { count: number; totalMs: number; maxMs: number }
export interface ProbeReading {
  /** Seconds since the previous reading. */
  seconds: number;
  eventLoop: { p50Ms: number; p99Ms: number; maxMs: number; meanMs: number };
  gc: Record<string, GcKindTotals>;
  /** Bytes used per V8 heap space (old_space, new_space, large_object_space...). */
  heap: Record<string, number>;
  /** Bytes held outside the heap's objects (typed-array backing stores and other external memory). */
  external: number;
}

const KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
/** Event-loop delay sampled every 2 ms: fine enough to see a stall of a few ms, cheap enough to leave on. */
const RESOLUTION_MS = 2;

const port = Number(process.env.BENCH_PROBE_PORT);
if (port > 0) {
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  delay.enable();
  let gc: Record<string, GcKindTotals> = {};
  let since = performance.now();
  /** Pauses that start before this time were the probe's own forced GC: not the process's. */
  let forcedUntil = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
      if (e.startTime < forcedUntil) continue;
      const kind = KINDS[e.detail?.kind ?? -1] ?? 'other';
      const t = (gc[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
      t.count += 1;
      t.totalMs += e.duration;
      t.maxMs = Math.max(t.maxMs, e.duration);
    }
  }).observe({ entryTypes: ['gc'] });
  // The histogram holds the time between samples: what is beyond the sampling interval is the delay.
  const ms = (ns: number) => Math.max(0, Math.round(ns / 1e3 - RESOLUTION_MS * 1e3) / 1e3);
  const server = createServer((req, res) => {
    const reading: Omit<ProbeReading, 'heap' | 'external'> = {
      seconds: (performance.now() - since) / 1000,
      eventLoop: { p50Ms: ms(delay.percentile(50)), p99Ms: ms(delay.percentile(99)), maxMs: ms(delay.max), meanMs: ms(delay.mean) },
      gc,
    };
    const collect = (globalThis as { gc?: () => void }).gc;
    if (req.url?.includes('gc=1') && collect) { collect(); forcedUntil = performance.now(); }
    const full: ProbeReading = {
      ...reading,
      heap: Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size])),
      external: process.memoryUsage().external,
    };
    delay.reset();
    gc = {};
    since = performance.now();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(full));
  });
  server.listen(port, '127.0.0.1');
  server.unref();
}
