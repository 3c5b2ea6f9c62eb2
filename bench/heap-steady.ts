/**
 * Does the gateway's old space stay flat while its pin cache fills (issue
 * 15)? Column (c) runs the workload at a steady paced rate for a while; its
 * heap spaces are read after a full GC (bench/probe.ts with --expose-gc)
 * before, at even intervals during, and after the run, with the pins cached
 * by then and every GC pause of the run.
 */
import type { ColumnSpec } from './columns.ts';
import { runPaced, runPeak } from './load.ts';
import type { GcKindTotals, ProbeReading } from './probe.ts';
import { runTag } from './workload.ts';

export interface HeapPoint { atSeconds: number; oldSpace: number; newSpace: number; external: number; pinsCached?: number }
export interface HeapSteady {
  rate: number; seconds: number;
  points: HeapPoint[];
  /** GC pauses during the run by kind (the probe's forced GCs left out). */
  gc: Record<string, GcKindTotals>;
  p99Ms: number; failures: number; saturated: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function measureHeapSteady(spec: ColumnSpec, o: { dir: string; rate: number; seconds: number; samples?: number; connections: number }): Promise<HeapSteady> {
  const r = await spec.start(o.dir);
  if (!r.probeUrl) { await r.stop(); throw new Error('the column runs without bench/probe.ts'); }
  try {
    const read = async (gc: boolean) => (await (await fetch(`${r.probeUrl}${gc ? '?gc=1' : ''}`)).json()) as ProbeReading;
    const pinsCached = async () => {
      if (!r.adminUrl) return undefined;
      const m = /^cutover_pin_cache_entries (\d+)/m.exec(await (await fetch(`${r.adminUrl}/metrics`)).text());
      return m ? Number(m[1]) : undefined;
    };
    const gc: Record<string, GcKindTotals> = {};
    const addGc = (p: ProbeReading) => {
      for (const [kind, t] of Object.entries(p.gc)) {
        const g = (gc[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
        g.count += t.count; g.totalMs = Math.round((g.totalMs + t.totalMs) * 100) / 100; g.maxMs = Math.max(g.maxMs, Math.round(t.maxMs * 100) / 100);
      }
    };
    const point = async (at: number, p: ProbeReading): Promise<HeapPoint> => ({
      atSeconds: Math.round(at), oldSpace: p.heap.old_space ?? 0, newSpace: p.heap.new_space ?? 0, external: p.external, pinsCached: await pinsCached(),
    });
    await runPeak({ targets: r.targets, connections: o.connections, seconds: 2, tag: runTag('heapw') });
    const points = [await point(0, await read(true))];
    await read(false);
    const started = Date.now();
    const run = runPaced({ targets: r.targets, rate: o.rate, seconds: o.seconds, tag: runTag('heap') });
    const every = (o.seconds * 1000) / (o.samples ?? 6);
    let done = false;
    void run.finally(() => { done = true; });
    for (let k = 1; k < (o.samples ?? 6); k++) {
      while (!done && Date.now() - started < k * every) await sleep(Math.min(250, k * every - (Date.now() - started)));
      if (done) break;
      const p = await read(true);
      addGc(p);
      points.push(await point((Date.now() - started) / 1000, p));
    }
    const stats = await run;
    const last = await read(true);
    addGc(last);
    points.push(await point((Date.now() - started) / 1000, last));
    return {
      rate: o.rate, seconds: o.seconds, points, gc, p99Ms: stats.latencyMs.p99,
      failures: stats.non2xx + stats.errors + stats.followUp404, saturated: stats.saturatedAt !== undefined,
    };
  } finally {
    await r.stop();
  }
}
