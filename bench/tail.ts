/**
 * The p99 added over the backends as the rate grows: (a), (b), (c) and (cm)
 * run side by side and are paced in turn at fractions of (b)'s peak, so that
 * the report shows up to what rate the gateway stays within the target on
 * this machine, and how the bare proxy and the embedded store compare there.
 * At each rate the columns run back to back, (a) first, so that a change in
 * the machine's other load falls on all of them alike.
 */
import type { ColumnSpec, Running } from './columns.ts';
import { runPaced, runPeak } from './load.ts';
import { runTag } from './workload.ts';

export interface TailPoint {
  rate: number;
  /** Share of (b)'s peak. */
  fraction: number;
  columns: { id: string; p50: number; p99: number; p999: number; saturatedAt?: number; failures: number }[];
}
export interface TailSweep { seconds: number; warmupSeconds: number; columnIds: string[]; points: TailPoint[] }

export const TAIL_COLUMNS = ['a', 'b', 'c', 'cm'];
export const TAIL_FRACTIONS = [0.125, 0.25, 0.5];

export async function measureTail(specs: ColumnSpec[], o: {
  dir: string; bPeak: number; seconds: number; warmupSeconds: number; connections: number; fractions?: number[];
}): Promise<TailSweep> {
  const chosen = TAIL_COLUMNS.map((id) => specs.find((s) => s.id === id)).filter((s): s is ColumnSpec => s !== undefined && !s.unavailable);
  const running: { id: string; r: Running }[] = [];
  try {
    for (const spec of chosen) running.push({ id: spec.id, r: await spec.start(o.dir) });
    // Once per column: the JIT and the connection pools warm at peak, as in the columns' own runs.
    for (const { id, r } of running) await runPeak({ targets: r.targets, connections: o.connections, seconds: 2, tag: runTag(`tailw${id}`) });
    const points: TailPoint[] = [];
    for (const fraction of o.fractions ?? TAIL_FRACTIONS) {
      const rate = Math.max(1, Math.round(o.bPeak * fraction));
      const point: TailPoint = { rate, fraction, columns: [] };
      for (const { id, r } of running) {
        const s = await runPaced({ targets: r.targets, rate, seconds: o.seconds, warmupSeconds: o.warmupSeconds, tag: runTag(`tail${id}`) });
        point.columns.push({
          id, p50: s.latencyMs.p50, p99: s.latencyMs.p99, p999: s.latencyMs.p999,
          failures: s.non2xx + s.errors + s.followUp404, ...(s.saturatedAt !== undefined ? { saturatedAt: s.saturatedAt } : {}),
        });
      }
      points.push(point);
    }
    return { seconds: o.seconds, warmupSeconds: o.warmupSeconds, columnIds: running.map((x) => x.id), points };
  } finally {
    await Promise.all(running.map(({ r }) => r.stop()));
  }
}

/** The p99 of column `id` at a point minus (a)'s there, when both ran and kept up. */
export function addedAt(point: TailPoint, id: string): number | undefined {
  const a = point.columns.find((c) => c.id === 'a');
  const x = point.columns.find((c) => c.id === id);
  if (!a || !x || a.saturatedAt !== undefined || x.saturatedAt !== undefined) return undefined;
  return Math.round((x.p99 - a.p99) * 100) / 100;
}
