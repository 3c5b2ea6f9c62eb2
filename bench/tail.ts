/**
 * The p99 added over the backends at the target's rate: (a), (n), (b) and
 * (c) run side by side and are paced in turn at half of (b)'s peak, so that
 * the report shows whether the gateway stays within the target on this
 * machine, and how the bare proxies compare there. (n), Node's own server and
 * client with no logic, is the floor for any Node proxy: what it adds, the
 * gateway cannot add less of. (The embedded store (cm) and lower rates are in
 * bench/lowtail.ts.)
 *
 * The columns run back to back, (a) first, so that a change in the machine's
 * other load falls on all of them alike, for several rounds: one paced run's
 * p99 moves by several times from run to run on a small shared machine, so
 * the added p99 is the median over the rounds of each round's difference
 * from (a).
 */
import type { ColumnSpec, Running } from './columns.ts';
import { runPaced, runPeak } from './load.ts';
import { median, type RunStats } from './stats.ts';
import { runTag } from './workload.ts';

export interface TailColumn {
  id: string;
  /** Medians over the rounds. */
  p50: number; p99: number; p999: number;
  /** p99 of each round, in order. */
  p99Rounds: number[];
  /** The first round's run in full (the column's paced run in the report's paced table). */
  firstRun?: RunStats;
  saturatedAt?: number;
  failures: number;
}
export interface TailPoint {
  rate: number;
  /** Share of (b)'s peak. */
  fraction: number;
  rounds: number;
  columns: TailColumn[];
}
export interface TailSweep { seconds: number; warmupSeconds: number; columnIds: string[]; points: TailPoint[] }

export const TAIL_COLUMNS = ['a', 'n', 'b', 'c'];
/** Fractions of (b)'s peak, and the rounds run at each (low rates: bench/lowtail.ts). */
export const TAIL_POINTS = [{ fraction: 0.5, rounds: 3 }];

export async function measureTail(specs: ColumnSpec[], o: {
  dir: string; bPeak: number; seconds: number; warmupSeconds: number; connections: number; points?: { fraction: number; rounds: number }[];
}): Promise<TailSweep> {
  const chosen = TAIL_COLUMNS.map((id) => specs.find((s) => s.id === id)).filter((s): s is ColumnSpec => s !== undefined && !s.unavailable);
  const running: { id: string; r: Running }[] = [];
  try {
    for (const spec of chosen) running.push({ id: spec.id, r: await spec.start(o.dir) });
    // Once per column: the JIT and the connection pools warm at peak, as in the columns' own runs.
    for (const { id, r } of running) await runPeak({ targets: r.targets, connections: o.connections, seconds: 2, tag: runTag(`tailw${id}`) });
    const points: TailPoint[] = [];
    for (const { fraction, rounds } of o.points ?? TAIL_POINTS) {
      const rate = Math.max(1, Math.round(o.bPeak * fraction));
      const runs = new Map(running.map(({ id }) => [id, [] as Awaited<ReturnType<typeof runPaced>>[]]));
      for (let round = 0; round < rounds; round++) {
        for (const { id, r } of running) {
          runs.get(id)!.push(await runPaced({ targets: r.targets, rate, seconds: o.seconds, warmupSeconds: o.warmupSeconds, tag: runTag(`tail${id}`) }));
        }
      }
      points.push({
        rate, fraction, rounds,
        columns: running.map(({ id }) => {
          const xs = runs.get(id)!;
          const saturated = xs.find((s) => s.saturatedAt !== undefined);
          return {
            id, p50: median(xs.map((s) => s.latencyMs.p50)), p99: median(xs.map((s) => s.latencyMs.p99)), p999: median(xs.map((s) => s.latencyMs.p999)),
            p99Rounds: xs.map((s) => s.latencyMs.p99), firstRun: xs[0],
            failures: xs.reduce((n, s) => n + s.non2xx + s.errors + s.followUp404, 0),
            ...(saturated ? { saturatedAt: saturated.saturatedAt } : {}),
          };
        }),
      });
    }
    return { seconds: o.seconds, warmupSeconds: o.warmupSeconds, columnIds: running.map((x) => x.id), points };
  } finally {
    await Promise.all(running.map(({ r }) => r.stop()));
  }
}

/**
 * What column `id` adds to (a)'s p99 at a point: the median over the rounds
 * of each round's difference (the two ran minutes apart at most). Undefined
 * when either is missing or could not keep up.
 */
export function addedAt(point: TailPoint, id: string): number | undefined {
  const a = point.columns.find((c) => c.id === 'a');
  const x = point.columns.find((c) => c.id === id);
  if (!a || !x || a.saturatedAt !== undefined || x.saturatedAt !== undefined) return undefined;
  const n = Math.min(a.p99Rounds.length, x.p99Rounds.length);
  if (n === 0) return undefined;
  return Math.round(median(Array.from({ length: n }, (_, i) => x.p99Rounds[i] - a.p99Rounds[i])) * 100) / 100;
}

/** The point at the target's rate (half of (b)'s peak), when the sweep ran it. */
export function targetPoint(t: TailSweep): TailPoint | undefined {
  return t.points.find((p) => p.fraction === 0.5);
}
