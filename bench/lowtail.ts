/**
 * The tail at low rates (issue 15): (b), (c) and (cm) side by side, paced in
 * turn at rates where the CPU is mostly idle, several rounds with the order
 * alternating (b, c, cm; cm, c, b; ...), so that whatever favours the first
 * or the last run of a round falls on each side alike. Per column: p99 and
 * p99.9 (medians over the rounds), the rounds where (c) beats (b), the
 * event-loop delay and GC pauses of the proxy process (bench/probe.ts), and
 * for the gateways the time of each stage inside them, from their own
 * histograms on /metrics (the ones production has).
 */
import type { ColumnSpec, Running } from './columns.ts';
import { addInto, bucketsOf, countOf, minus, quantileMs, type Buckets } from './histograms.ts';
import { runPaced, runPeak } from './load.ts';
import type { GcKindTotals, ProbeReading } from './probe.ts';
import type { RunStats } from './stats.ts';
import { median } from './stats.ts';
import { runTag } from './workload.ts';

export const LOW_TAIL_COLUMNS = ['b', 'c', 'cm'];
export const LOW_TAIL_RATES = [300, 600];
/** The relative verdict: (c)'s p99 at most 1.5 × (b)'s + 2 ms, its p99.9 at most 2 × (b)'s + 5 ms. */
export const LOW_TAIL_LIMITS = { p99: { times: 1.5, plusMs: 2 }, p999: { times: 2, plusMs: 5 } };

export interface StageTiming { stage: string; what: string; count: number; p50Ms?: number; p99Ms?: number }
export interface LowTailColumn {
  id: string;
  /** Medians over the rounds. */
  p50: number; p99: number; p999: number;
  p99Rounds: number[]; p999Rounds: number[];
  failures: number;
  saturated: boolean;
  /** Event-loop delay of the proxy process: median over the rounds of each run's p99, and the largest delay seen. */
  eventLoop?: { p99Ms: number; maxMs: number };
  /** GC pauses of the proxy process over all rounds at this rate (warm-ups included). */
  gc?: { seconds: number; pauses: number; totalMs: number; maxMs: number; major: GcKindTotals };
  stages?: StageTiming[];
}
export interface LowTailPoint {
  rate: number; rounds: number;
  columns: LowTailColumn[];
  /** Rounds in which (c)'s p99 (p99.9) was lower than (b)'s in the same round. */
  cBeatsB?: { p99: number; p999: number; of: number };
  verdict?: { p99LimitMs: number; p999LimitMs: number; p99Met: boolean; p999Met: boolean };
}
export interface LowTail {
  seconds: number; warmupSeconds: number; rounds: number; columnIds: string[];
  /** Each column's label. */
  labels?: Record<string, string>;
  points: LowTailPoint[];
}

/** Stages inside the gateway, and the histogram each is read from. */
const STAGES: { stage: string; what: string; metric: string; labels?: Record<string, string> }[] = [
  { stage: 'claim', what: 'the claims of a request in the store (order number and idempotency key, one script call), before forwarding (cutover_store_duration_seconds{command="claim"})', metric: 'cutover_store_duration_seconds', labels: { command: 'claim' } },
  { stage: 'lookup', what: 'one pin lookup that went to the store (a cache miss)', metric: 'cutover_store_duration_seconds', labels: { command: 'lookup' } },
  { stage: 'backend', what: 'forwarding to the backend answer head (cutover_upstream_duration_seconds)', metric: 'cutover_upstream_duration_seconds' },
  { stage: 'pin', what: 'pinning the transaction id the answer names (cutover_store_duration_seconds{command="pin"})', metric: 'cutover_store_duration_seconds', labels: { command: 'pin' } },
  { stage: 'total', what: 'the whole request inside the gateway (cutover_request_duration_seconds)', metric: 'cutover_request_duration_seconds' },
];

async function readProbe(r: Running): Promise<ProbeReading | undefined> {
  if (!r.probeUrl) return undefined;
  try { return await (await fetch(r.probeUrl)).json() as ProbeReading; } catch { return undefined; }
}

async function readMetrics(r: Running): Promise<string | undefined> {
  if (!r.adminUrl) return undefined;
  try { return await (await fetch(`${r.adminUrl}/metrics`)).text(); } catch { return undefined; }
}

/** What the runs of one column at one rate gathered. */
export interface LowTailRuns { runs: RunStats[]; probes: ProbeReading[]; stages: Map<string, Buckets> }

export async function measureLowTail(specs: ColumnSpec[], o: {
  dir: string; rates?: number[]; columnIds?: string[]; rounds: number; seconds: number; warmupSeconds: number; connections: number;
}): Promise<LowTail> {
  const chosen = (o.columnIds ?? LOW_TAIL_COLUMNS).map((id) => specs.find((s) => s.id === id)).filter((s): s is ColumnSpec => s !== undefined && !s.unavailable);
  const running: { id: string; r: Running }[] = [];
  try {
    for (const spec of chosen) running.push({ id: spec.id, r: await spec.start(o.dir) });
    // Once per column: the JIT and the connection pools warm at peak, as in the other sections.
    for (const { id, r } of running) await runPeak({ targets: r.targets, connections: o.connections, seconds: 2, tag: runTag(`ltw${id}`) });
    const points: LowTailPoint[] = [];
    for (const rate of o.rates ?? LOW_TAIL_RATES) {
      const acc = new Map(running.map(({ id }) => [id, { runs: [], probes: [], stages: new Map() } as LowTailRuns]));
      for (let round = 0; round < o.rounds; round++) {
        const order = round % 2 === 0 ? running : [...running].reverse();
        for (const { id, r } of order) {
          const a = acc.get(id)!;
          await readProbe(r);
          const before = await readMetrics(r);
          a.runs.push(await runPaced({ targets: r.targets, rate, seconds: o.seconds, warmupSeconds: o.warmupSeconds, tag: runTag(`lt${id}`) }));
          const probe = await readProbe(r);
          if (probe) a.probes.push(probe);
          const after = await readMetrics(r);
          if (before !== undefined && after !== undefined) {
            for (const s of STAGES) {
              const delta = minus(bucketsOf(after, s.metric, s.labels), bucketsOf(before, s.metric, s.labels));
              a.stages.set(s.stage, addInto(a.stages.get(s.stage) ?? new Map(), delta));
            }
          }
        }
      }
      points.push(summarizeLowTail(rate, o.rounds, running.map(({ id }) => [id, acc.get(id)!] as const)));
    }
    const labels = Object.fromEntries(chosen.map((c) => [c.id, c.label]));
    return { seconds: o.seconds, warmupSeconds: o.warmupSeconds, rounds: o.rounds, columnIds: running.map((x) => x.id), labels, points };
  } finally {
    await Promise.all(running.map(({ r }) => r.stop()));
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** One rate's figures from the runs, probe readings and stage histograms of each column. */
export function summarizeLowTail(rate: number, rounds: number, accs: (readonly [string, LowTailRuns])[]): LowTailPoint {
  const columns: LowTailColumn[] = accs.map(([id, a]) => {
    const col: LowTailColumn = {
      id, p50: median(a.runs.map((s) => s.latencyMs.p50)), p99: median(a.runs.map((s) => s.latencyMs.p99)), p999: median(a.runs.map((s) => s.latencyMs.p999)),
      p99Rounds: a.runs.map((s) => s.latencyMs.p99), p999Rounds: a.runs.map((s) => s.latencyMs.p999),
      failures: a.runs.reduce((n, s) => n + s.non2xx + s.errors + s.followUp404, 0),
      saturated: a.runs.some((s) => s.saturatedAt !== undefined),
    };
    if (a.probes.length > 0) {
      col.eventLoop = { p99Ms: median(a.probes.map((p) => p.eventLoop.p99Ms)), maxMs: Math.max(...a.probes.map((p) => p.eventLoop.maxMs)) };
      const all = a.probes.flatMap((p) => Object.values(p.gc));
      const majors = a.probes.map((p) => p.gc.major).filter((m): m is GcKindTotals => m !== undefined);
      col.gc = {
        seconds: round2(a.probes.reduce((n, p) => n + p.seconds, 0)),
        pauses: all.reduce((n, g) => n + g.count, 0), totalMs: round2(all.reduce((n, g) => n + g.totalMs, 0)), maxMs: round2(Math.max(0, ...all.map((g) => g.maxMs))),
        major: { count: majors.reduce((n, g) => n + g.count, 0), totalMs: round2(majors.reduce((n, g) => n + g.totalMs, 0)), maxMs: round2(Math.max(0, ...majors.map((g) => g.maxMs))) },
      };
    }
    if (a.stages.size > 0) {
      col.stages = STAGES.map((s) => {
        const b = a.stages.get(s.stage) ?? new Map();
        return { stage: s.stage, what: s.what, count: countOf(b), p50Ms: quantileMs(b, 0.5), p99Ms: quantileMs(b, 0.99) };
      });
    }
    return col;
  });
  const point: LowTailPoint = { rate, rounds, columns };
  const b = columns.find((c) => c.id === 'b');
  const c = columns.find((x) => x.id === 'c');
  if (b && c) {
    const n = Math.min(b.p99Rounds.length, c.p99Rounds.length);
    const beats = (xs: number[], ys: number[]) => Array.from({ length: n }, (_, i) => xs[i] < ys[i]).filter(Boolean).length;
    point.cBeatsB = { p99: beats(c.p99Rounds, b.p99Rounds), p999: beats(c.p999Rounds, b.p999Rounds), of: n };
    const p99LimitMs = round2(LOW_TAIL_LIMITS.p99.times * b.p99 + LOW_TAIL_LIMITS.p99.plusMs);
    const p999LimitMs = round2(LOW_TAIL_LIMITS.p999.times * b.p999 + LOW_TAIL_LIMITS.p999.plusMs);
    const clean = !b.saturated && !c.saturated;
    point.verdict = { p99LimitMs, p999LimitMs, p99Met: clean && c.p99 <= p99LimitMs, p999Met: clean && c.p999 <= p999LimitMs };
  }
  return point;
}
