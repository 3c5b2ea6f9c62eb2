/**
 * The report's sections for issue 15: the tail at low rates, the heap at a
 * steady rate, GC pauses with a million cached pins, and the access log's
 * cost. Rendered by report.ts.
 */
import type { HeapSteady } from './heap-steady.ts';
import type { LogCost } from './log-cost.ts';
import { LOW_TAIL_LIMITS, type LowTail } from './lowtail.ts';
import type { CacheGcRun } from './pin-cache-gc.ts';

type Failed = { error: string };
const failed = (x: unknown): x is Failed => typeof x === 'object' && x !== null && 'error' in x;
const fmt = (x: number | undefined, digits = 2) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits));
const int = (x: number | undefined) => (x === undefined ? '–' : Math.round(x).toLocaleString('en-US'));
const mb = (bytes: number | undefined) => (bytes === undefined ? '–' : (bytes / 1048576).toFixed(1));
const table = (head: string[], rows: string[][]) => [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
const verdict = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? '**met**' : '**not met**');

/** Major GC pauses must stay under this with a million cached pins (issue 15). */
export const MAJOR_GC_LIMIT_MS = 10;

export interface CacheGc { typed: CacheGcRun | Failed; lru: CacheGcRun | { notMeasured: string } | Failed }

/** Whether the low-rate verdict holds at every rate: undefined when not measured. */
export function lowTailMet(t: LowTail | Failed | undefined): boolean | undefined {
  if (!t || failed(t) || t.points.length === 0 || t.points.some((p) => !p.verdict)) return undefined;
  return t.points.every((p) => p.verdict!.p99Met && p.verdict!.p999Met);
}

export function lowTailSection(t: LowTail | Failed | undefined, label: (id: string) => string): string[] {
  if (!t) return [];
  const L = ['## The tail at low rates, in paired rounds', ''];
  if (failed(t)) return [...L, `Not measured: ${t.error}`, ''];
  const given = label;
  label = (id: string) => t.labels?.[id] ?? given(id);
  L.push(`${t.columnIds.map(label).join(', ')} ran side by side and were paced in turn at each rate, ${t.rounds} rounds, `
    + `the order alternating (${t.columnIds.join(', ')} in odd rounds, ${[...t.columnIds].reverse().join(', ')} in even ones); each run ${t.seconds} s after ${t.warmupSeconds} s unmeasured at the same rate. `
    + 'p50, p99 and p99.9 are medians over the rounds. Event-loop delay and GC pauses are those of the proxy process (bench/probe.ts, preloaded alike into every column; delay beyond its 2 ms sampling interval), over all runs at that rate, warm-ups included. '
    + `Verdict (issue 15): (c)'s p99 at most ${LOW_TAIL_LIMITS.p99.times} × (b)'s + ${LOW_TAIL_LIMITS.p99.plusMs} ms and its p99.9 at most ${LOW_TAIL_LIMITS.p999.times} × (b)'s + ${LOW_TAIL_LIMITS.p999.plusMs} ms, at every rate.`, '');
  L.push(table(['rate', 'column', 'p50 ms', 'p99 ms', 'p99.9 ms', 'p99 of each round, ms', 'event-loop delay p99 / max ms', 'GC pauses: count, total ms, longest ms', 'major GC: count, longest ms', 'non-2xx, errors, follow-ups 404'],
    t.points.flatMap((p) => p.columns.map((c) => [
      `${int(p.rate)} req/s`, label(c.id), fmt(c.p50), fmt(c.p99), fmt(c.p999), c.p99Rounds.map((x) => fmt(x)).join(', '),
      c.eventLoop ? `${fmt(c.eventLoop.p99Ms)} / ${fmt(c.eventLoop.maxMs)}` : '–',
      c.gc ? `${int(c.gc.pauses)}, ${fmt(c.gc.totalMs, 1)}, ${fmt(c.gc.maxMs)}` : '–',
      c.gc ? `${int(c.gc.major.count)}, ${fmt(c.gc.major.maxMs)}` : '–',
      `${int(c.failures)}${c.saturated ? ' (could not keep up)' : ''}`,
    ]))), '');
  L.push(table(['rate', "(c) p99 ms", 'limit ms', 'verdict', "(c) p99.9 ms", 'limit ms', 'verdict', 'rounds (c) beat (b): p99, p99.9'],
    t.points.map((p) => {
      const c = p.columns.find((x) => x.id === 'c');
      const v = p.verdict;
      const beats = p.cBeatsB ? `${p.cBeatsB.p99} of ${p.cBeatsB.of}, ${p.cBeatsB.p999} of ${p.cBeatsB.of}` : '–';
      return [`${int(p.rate)} req/s`, fmt(c?.p99), fmt(v?.p99LimitMs), verdict(v?.p99Met), fmt(c?.p999), fmt(v?.p999LimitMs), verdict(v?.p999Met), beats];
    })), '');
  const met = lowTailMet(t);
  L.push(`The relative tail target is ${met === undefined ? 'not measured' : met ? '**met** at every rate' : '**not met**'}.`, '');
  const staged = t.points.flatMap((p) => p.columns.filter((c) => c.stages).map((c) => ({ p, c })));
  if (staged.length > 0) {
    L.push('Stages inside the gateway, from its own histograms on /metrics (the ones production exports), over all rounds at each rate; p50 and p99 interpolated within the histogram buckets:', '');
    L.push(table(['rate', 'column', ...staged[0].c.stages!.map((s) => `${s.stage}: count, p50 / p99 ms`)],
      staged.map(({ p, c }) => [`${int(p.rate)} req/s`, label(c.id), ...c.stages!.map((s) => `${int(s.count)}, ${fmt(s.p50Ms)} / ${fmt(s.p99Ms)}`)])), '');
    L.push(staged[0].c.stages!.map((s) => `*${s.stage}*: ${s.what}`).join('; ') + '.', '');
  }
  return L;
}

export function heapSection(h: HeapSteady | Failed | undefined): string[] {
  if (!h) return [];
  const L = ['## Heap at a steady rate', ''];
  if (failed(h)) return [...L, `Not measured: ${h.error}`, ''];
  const first = h.points[0];
  const last = h.points.at(-1)!;
  L.push(`Column (c) (pins in Redis, the pin cache at its default size) paced at ${int(h.rate)} req/s for ${int(h.seconds)} s after 2 s at peak; heap spaces read after a full GC (bench/probe.ts with --expose-gc) before, during and after the run. `
    + 'The pin cache lives in typed arrays, counted under "outside the heap\'s objects", allocated once at start.', '',
  table(['at s', 'old space MB', 'new space MB', 'outside the heap\'s objects MB', 'pins cached'],
    h.points.map((p) => [int(p.atSeconds), mb(p.oldSpace), mb(p.newSpace), mb(p.external), int(p.pinsCached)])), '');
  const added = (last.pinsCached ?? 0) - (first.pinsCached ?? 0);
  L.push(`Old space ${mb(first.oldSpace)} MB before and ${mb(last.oldSpace)} MB after (${last.oldSpace >= first.oldSpace ? '+' : ''}${fmt((last.oldSpace - first.oldSpace) / 1048576)} MB) while ${int(added)} pins were added to the cache`
    + `${added > 0 ? ` (${int((last.oldSpace - first.oldSpace) / added)} bytes of old space per pin added)` : ''}; p99 ${fmt(h.p99Ms)} ms, ${int(h.failures)} failures${h.saturated ? ', could not keep up' : ''}.`, '');
  L.push(`GC pauses during the run: ${Object.entries(h.gc).map(([k, g]) => `${k} ${int(g.count)} (total ${fmt(g.totalMs, 1)} ms, longest ${fmt(g.maxMs)} ms)`).join('; ') || 'none'}.`, '');
  return L;
}

export function cacheGcSection(g: CacheGc | Failed | undefined): string[] {
  if (!g) return [];
  const L = ['## GC pauses with a million cached pins', ''];
  if (failed(g)) return [...L, `Not measured: ${g.error}`, ''];
  const runs = [g.typed, g.lru].filter((x): x is CacheGcRun => !failed(x) && !('notMeasured' in x));
  const typed = failed(g.typed) ? undefined : g.typed;
  L.push('bench/pin-cache-gc.ts, in a fresh process each: the cache filled to its capacity, a forced full GC timed three times (median; non-incremental, so the whole marking of the heap in one pause: the bound on a major GC), '
    + 'then request-like work for the given seconds (a cached lookup per request, a new pin every fifth, evicting one; request garbage; a ring of the last 2,000 requests\' state), every GC pause recorded with perf_hooks. '
    + 'typed: gateway/pin-cache.ts; lru: the lru-cache of JS objects the gateway used before.', '');
  if (runs.length > 0) {
    L.push(table(['cache', 'pins', 'fill s', 'old space empty / full MB', 'outside the heap\'s objects MB', 'forced full GC ms', 'requests', 'major GCs: count, longest ms', 'minor GCs: count, longest ms', 'longest pause other than minor ms'],
      runs.map((r) => [r.impl, int(r.pins), fmt(r.fillSeconds), `${mb(r.oldSpaceEmpty)} / ${mb(r.oldSpaceFull)}`, mb(r.externalFull), fmt(r.fullGcMs), int(r.requests),
        `${int(r.major.count)}, ${fmt(r.major.maxMs)}`, `${int(r.minor.count)}, ${fmt(r.minor.maxMs)}`, fmt(r.otherMaxMs)])), '');
  }
  if (failed(g.typed)) L.push(`typed: not measured (${g.typed.error}).`, '');
  if (failed(g.lru)) L.push(`lru: not measured (${g.lru.error}).`, '');
  else if ('notMeasured' in g.lru) L.push(`lru: not measured (${g.lru.notMeasured}).`, '');
  if (typed) {
    L.push(table(['figure', 'value', 'target', 'verdict'], [
      [`longest major GC pause with ${int(typed.pins)} cached pins (${int(typed.major.count)} major GCs in ${typed.seconds} s)`, `${fmt(typed.major.maxMs)} ms`, `≤ ${MAJOR_GC_LIMIT_MS} ms`, verdict(typed.major.count === 0 ? undefined : typed.major.maxMs <= MAJOR_GC_LIMIT_MS)],
      [`forced full GC with ${int(typed.pins)} cached pins`, `${fmt(typed.fullGcMs)} ms`, `≤ ${MAJOR_GC_LIMIT_MS} ms`, verdict(typed.fullGcMs <= MAJOR_GC_LIMIT_MS)],
    ]), '');
  }
  return L;
}

export function logCostSection(c: LogCost | Failed | undefined): string[] {
  if (!c) return [];
  const L = ['## Cost of the access log line', ''];
  if (failed(c)) return [...L, `Not measured: ${c.error}`, ''];
  L.push(`bench/log-cost.ts: the record stage's line for a pinned refund, ${int(c.lines)} lines per round, bursts of 500 between turns of the event loop, median of ${c.rounds} rounds; CPU time in the calling thread (the write to /dev/null is batched and asynchronous).`, '',
    table(['path', 'ns per request'], [
      ['the gateway\'s access line (gateway/log.ts logRequest, batched stdout)', int(c.nsPerLine)],
      ['the same with the level at warn (no access log)', int(c.nsPerLineOff)],
      ['pino\'s general path (`log.info(fields, \'request\')`) straight into sonic-boom', int(c.nsPerLinePinoPath)],
    ]), '');
  return L;
}
