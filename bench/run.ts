/**
 * `npm run bench`: the gateway against the reference backends, a bare Node
 * proxy, HAProxy and nginx on one machine, loopback only, bounded in time;
 * then pins, rule propagation, rule growth and a CPU profile. Writes
 * BENCHMARKS.md. Every setting has a flag and an environment variable:
 *
 *   --seconds N          BENCH_SECONDS          per measured phase (10)
 *   --warmup N           BENCH_WARMUP_SECONDS   warm-up before each column (2)
 *   --connections N      BENCH_CONNECTIONS      autocannon connections at peak (32)
 *   --rate N             BENCH_RATE             paced rate; default half of (b)'s peak
 *   --paced-warmup N     BENCH_PACED_WARMUP     unmeasured seconds at the paced rate before each paced phase (3)
 *   --columns a,b,...    BENCH_COLUMNS          columns to run (a b n c c0 cm d e; cq only when named)
 *   --skip x,y           BENCH_SKIP             phases to skip: tail, lowtail, ratio, heap, gc, logcost, pins, handover, propagation, growth, profile
 *   --handover N         BENCH_HANDOVER_COUNT   transactions handed over in the hand-over phase (20000)
 *   --ratio-rounds N     BENCH_RATIO_ROUNDS     interleaved (b)/(c) peak rounds for the c/b ratio (4)
 *   --tail-rates a,b     BENCH_TAIL_RATES       low rates of the (b)/(c)/(cm) tail section, req/s (300,600)
 *   --tail-columns x,y   BENCH_TAIL_COLUMNS     its columns (b,c,cm; add cq, (c) with the access log off, to see what the log costs in the tail)
 *   --tail-rounds N      BENCH_TAIL_ROUNDS      paired rounds at each low rate, order alternating (6)
 *   --tail-seconds N     BENCH_TAIL_SECONDS     measured seconds per run of the low-rate section (7, after 2 s unmeasured)
 *   --heap-seconds N     BENCH_HEAP_SECONDS     steady-rate run of (c) for its heap before/after (300: five minutes)
 *   --heap-rate N        BENCH_HEAP_RATE        its rate, req/s (600)
 *   --gc-pins N          BENCH_GC_PINS          pins in the cache for the GC pause section (1000000)
 *   --gc-seconds N       BENCH_GC_SECONDS       request-like work on the full cache, per cache (10)
 *   --pins N             BENCH_PIN_COUNT        pins written for the memory figure (1000000)
 *   --changes N          BENCH_CHANGES          ruleset changes for propagation (100)
 *   --growth-seconds N   BENCH_GROWTH_SECONDS   peak per rule-growth point (3)
 *   --profile-seconds N  BENCH_PROFILE_SECONDS  profiled peak (10)
 *   --gateway-root DIR   BENCH_GATEWAY_ROOT     run the gateway from another checkout (to measure a change)
 *   --ab-root DIR        BENCH_AB_ROOT          also compare the repository's gateway with the one in DIR, A/B
 *   --ab-role after|before BENCH_AB_ROLE       DIR holds the change under test (after, default) or the code before a change
 *   --ab-note TEXT       BENCH_AB_NOTE          what the change is, for the report
 *   --out FILE           BENCH_OUT              report path (BENCHMARKS.md)
 *   --save-profile-baseline                     keep this run's profile as the "before" (bench/profile-baseline.json)
 *   --from-results FILE                         measure nothing: render the report again from a run's results.json
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { compareGateways } from './ab.ts';
import { columnSpecs, type ColumnSpec } from './columns.ts';
import { measureDecisions, measureGrowthEndToEnd } from './growth.ts';
import { runPaced, runPeak } from './load.ts';
import { describeMachine, loadNow } from './machine.ts';
import { measurePinMemoryIfAvailable, measurePinRates } from './pins-bench.ts';
import { measureHandover } from './handover-bench.ts';
import { ensurePrograms, freePort, pruneScratch, ROOT, scratchDir, startRedis, type RedisProc } from './procs.ts';
import { profileGateway } from './profile.ts';
import { measurePropagation } from './propagation.ts';
import { ratios, renderReport, TARGETS, type BenchResults, type ColumnResult, type ProfileBaseline, type RatioRounds } from './report.ts';
import { median } from './stats.ts';
import { measureTail, TAIL_COLUMNS, targetPoint } from './tail.ts';
import { measureLowTail } from './lowtail.ts';
import { measureHeapSteady } from './heap-steady.ts';
import { measureCacheGc } from './pin-cache-gc.ts';
import { measureLogCost } from './log-cost.ts';
import { runTag } from './workload.ts';

const BASELINE = join(ROOT, 'bench', 'profile-baseline.json');

function settings() {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' }, warmup: { type: 'string' }, 'paced-warmup': { type: 'string' }, connections: { type: 'string' }, rate: { type: 'string' },
      columns: { type: 'string' }, skip: { type: 'string' }, pins: { type: 'string' }, changes: { type: 'string' }, handover: { type: 'string' },
      'growth-seconds': { type: 'string' }, 'ratio-rounds': { type: 'string' },
      'tail-rates': { type: 'string' }, 'tail-columns': { type: 'string' }, 'tail-rounds': { type: 'string' }, 'tail-seconds': { type: 'string' },
      'heap-seconds': { type: 'string' }, 'heap-rate': { type: 'string' }, 'gc-pins': { type: 'string' }, 'gc-seconds': { type: 'string' }, 'profile-seconds': { type: 'string' }, 'gateway-root': { type: 'string' },
      'ab-root': { type: 'string' }, 'ab-note': { type: 'string' }, 'ab-role': { type: 'string' },
      out: { type: 'string' }, 'save-profile-baseline': { type: 'boolean', default: false }, 'from-results': { type: 'string' },
    },
  });
  const num = (flag: string | undefined, env: string, dflt: number) => {
    const raw = flag ?? process.env[env];
    if (raw === undefined || raw === '') return dflt;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${env} (or its flag) must be a positive number, got "${raw}"`);
    return n;
  };
  const list = (flag: string | undefined, env: string) => (flag ?? process.env[env] ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  const gatewayRoot = values['gateway-root'] ?? process.env.BENCH_GATEWAY_ROOT;
  const abRoot = values['ab-root'] ?? process.env.BENCH_AB_ROOT;
  return {
    seconds: num(values.seconds, 'BENCH_SECONDS', 10),
    warmupSeconds: num(values.warmup, 'BENCH_WARMUP_SECONDS', 2),
    pacedWarmupSeconds: num(values['paced-warmup'], 'BENCH_PACED_WARMUP', 3),
    connections: Math.round(num(values.connections, 'BENCH_CONNECTIONS', 32)),
    rate: (values.rate ?? process.env.BENCH_RATE) ? num(values.rate, 'BENCH_RATE', 1) : undefined,
    columns: list(values.columns, 'BENCH_COLUMNS'),
    skip: new Set(list(values.skip, 'BENCH_SKIP')),
    pinCount: Math.round(num(values.pins, 'BENCH_PIN_COUNT', 1_000_000)),
    handoverCount: Math.round(num(values.handover, 'BENCH_HANDOVER_COUNT', 20_000)),
    changes: Math.round(num(values.changes, 'BENCH_CHANGES', 100)),
    growthSeconds: num(values['growth-seconds'], 'BENCH_GROWTH_SECONDS', 3),
    ratioRounds: Math.round(num(values['ratio-rounds'], 'BENCH_RATIO_ROUNDS', 4)),
    tailRates: list(values['tail-rates'], 'BENCH_TAIL_RATES').map(Number).filter((x) => x > 0),
    tailColumns: list(values['tail-columns'], 'BENCH_TAIL_COLUMNS'),
    tailRounds: Math.round(num(values['tail-rounds'], 'BENCH_TAIL_ROUNDS', 6)),
    tailSeconds: num(values['tail-seconds'], 'BENCH_TAIL_SECONDS', 7),
    heapSeconds: num(values['heap-seconds'], 'BENCH_HEAP_SECONDS', 300),
    heapRate: num(values['heap-rate'], 'BENCH_HEAP_RATE', 600),
    gcPins: Math.round(num(values['gc-pins'], 'BENCH_GC_PINS', 1_000_000)),
    gcSeconds: num(values['gc-seconds'], 'BENCH_GC_SECONDS', 10),
    profileSeconds: num(values['profile-seconds'], 'BENCH_PROFILE_SECONDS', 10),
    gatewayRoot: gatewayRoot ? resolve(gatewayRoot) : undefined,
    abRoot: abRoot ? resolve(abRoot) : undefined,
    abNote: values['ab-note'] ?? process.env.BENCH_AB_NOTE,
    abRootIsBefore: (values['ab-role'] ?? process.env.BENCH_AB_ROLE ?? 'after') === 'before',
    out: resolve(ROOT, values.out ?? process.env.BENCH_OUT ?? 'BENCHMARKS.md'),
    saveBaseline: values['save-profile-baseline'] ?? false,
    fromResults: values['from-results'],
  };
}

const say = (line: string) => process.stderr.write(`bench: ${line}\n`);
const errorOf = (err: unknown) => ({ error: (err as Error).message.split('\n')[0] });

interface ColumnRun {
  dir: string; redis: RedisProc; seconds: number; warmupSeconds: number; pacedWarmupSeconds: number; connections: number;
  /** The paced rate of every column (half of (b)'s peak). */
  rate: (current: ColumnResult) => number;
  /** The sweep runs this column at the same paced rate: its first round stands for the column's paced run. */
  pacedBySweep?: boolean;
}

/** Starts a column, warms it up, runs the peak phase (with CPU per request) and the paced phases. */
async function runColumn(spec: ColumnSpec, o: ColumnRun): Promise<ColumnResult> {
  const result: ColumnResult = { id: spec.id, label: spec.label, what: spec.what };
  if (spec.unavailable) { result.skipped = spec.unavailable; say(`${spec.label}: skipped (${spec.unavailable})`); return result; }
  let running;
  try {
    running = await spec.start(o.dir);
  } catch (err) {
    result.skipped = `could not start: ${(err as Error).message.split('\n')[0]}`;
    say(`${spec.label}: ${result.skipped}`);
    return result;
  }
  try {
    const tag = runTag(spec.id);
    await runPeak({ targets: running.targets, connections: o.connections, seconds: o.warmupSeconds, tag: `${tag}w` });
    const sum = (children: { cpuMs(): number }[]) => children.reduce((a, c) => a + c.cpuMs(), 0);
    const before = { proxy: sum(running.proxy), backends: sum(running.backends), redis: o.redis.child.cpuMs(), loader: process.cpuUsage() };
    const peak = await runPeak({ targets: running.targets, connections: o.connections, seconds: o.seconds, tag: `${tag}p` });
    const per = (ms: number) => Math.round((ms * 1000) / Math.max(1, peak.requests));
    const loader = process.cpuUsage(before.loader);
    result.peak = {
      ...peak,
      cpuUs: {
        proxy: running.proxy.length > 0 ? per(sum(running.proxy) - before.proxy) : undefined,
        backends: per(sum(running.backends) - before.backends),
        redis: per(o.redis.child.cpuMs() - before.redis),
        loader: per((loader.user + loader.system) / 1000),
      },
    };
    say(`${spec.label}: peak ${peak.rps} req/s, p99 ${peak.latencyMs.p99} ms, non-2xx ${peak.non2xx}`);
    const rate = o.rate(result);
    if (o.pacedBySweep) return result;
    result.paced = await runPaced({ targets: running.targets, rate, seconds: o.seconds, warmupSeconds: o.pacedWarmupSeconds, tag: `${tag}r` });
    say(`${spec.label}: paced ${rate} req/s, p99 ${result.paced.latencyMs.p99} ms${result.paced.saturatedAt !== undefined ? ` (could not keep up: stopped at ${result.paced.saturatedAt} s)` : ''}`);
  } catch (err) {
    result.skipped = `failed: ${(err as Error).message.split('\n')[0]}`;
    say(`${spec.label}: ${result.skipped}`);
  } finally {
    await running.stop();
  }
  return result;
}

/**
 * (b) and (c) running side by side, their peaks interleaved round by round
 * (b, c; c, b; b, c ...), so that a change in the machine's other load falls
 * on both alike; the c/b verdict is the median of the rounds' ratios.
 */
async function measureRatioRounds(specs: ColumnSpec[], o: { dir: string; seconds: number; warmupSeconds: number; connections: number; rounds: number }): Promise<RatioRounds> {
  const [b, c] = ['b', 'c'].map((id) => specs.find((x) => x.id === id));
  if (!b || !c) throw new Error('needs columns (b) and (c)');
  const rb = await b.start(o.dir);
  try {
    const rc = await c.start(o.dir);
    try {
      // A longer warm-up than the columns': both keep getting faster for several seconds (JIT, pools, caches).
      for (const r of [rb, rc]) await runPeak({ targets: r.targets, connections: o.connections, seconds: Math.max(5, o.warmupSeconds), tag: runTag('ratiow') });
      const rounds: RatioRounds['rounds'] = [];
      for (let i = 0; i < o.rounds; i++) {
        // The order alternates (b, c; c, b; ...), so that whatever favours the first or the
        // second run of a round does not always favour the same side.
        const peakOf = (r: typeof rb, side: string) => runPeak({ targets: r.targets, connections: o.connections, seconds: o.seconds, tag: runTag(`ratio${side}${i}`) });
        let pb, pc;
        if (i % 2 === 0) { pb = await peakOf(rb, 'b'); pc = await peakOf(rc, 'c'); } else { pc = await peakOf(rc, 'c'); pb = await peakOf(rb, 'b'); }
        const failures = pb.non2xx + pb.errors + pb.followUp404 + pc.non2xx + pc.errors + pc.followUp404;
        rounds.push({ b: pb.rps, c: pc.rps, ratio: Math.round((pc.rps / Math.max(1, pb.rps)) * 100) / 100, failures });
        say(`ratio round ${i + 1}: (b) ${pb.rps} req/s, (c) ${pc.rps} req/s, c/b ${rounds[i].ratio}`);
      }
      const medianRatio = Math.round(median(rounds.map((r) => r.ratio)) * 100) / 100;
      return { seconds: o.seconds, connections: o.connections, rounds, medianRatio };
    } finally {
      await rc.stop();
    }
  } finally {
    await rb.stop();
  }
}

async function phase<T>(name: string, skip: Set<string>, fn: () => Promise<T>): Promise<T | { error: string } | undefined> {
  if (skip.has(name)) return undefined;
  const started = Date.now();
  try {
    return await fn();
  } catch (err) {
    say(`${name} failed: ${(err as Error).stack ?? err}`);
    return errorOf(err);
  } finally {
    say(`${name}: ${Math.round((Date.now() - started) / 1000)} s`);
  }
}

async function main(): Promise<void> {
  const s = settings();
  if (s.fromResults) {
    writeFileSync(s.out, renderReport(JSON.parse(readFileSync(s.fromResults, 'utf8')) as BenchResults));
    say(`wrote ${s.out} from ${s.fromResults}`);
    return;
  }
  const started = Date.now();
  const missing = ensurePrograms([{ program: 'haproxy', pkg: 'haproxy' }, { program: 'nginx', pkg: 'nginx' }], say);
  if (missing.length > 0) say(`not installed, their columns are skipped: ${missing.join(', ')}`);
  const machine = describeMachine();
  const dir = scratchDir('bench');
  const redis = await startRedis(await freePort(), dir);
  const results: BenchResults = {
    machine, columns: [], totalSeconds: 0,
    settings: { seconds: s.seconds, warmupSeconds: s.warmupSeconds, pacedWarmupSeconds: s.pacedWarmupSeconds, connections: s.connections, pacedRate: 0, pinCount: s.pinCount, changes: s.changes, growthSeconds: s.growthSeconds, profileSeconds: s.profileSeconds, gatewayRoot: s.gatewayRoot },
  };
  try {
    const specs = columnSpecs({ redisUrl: redis.url, gatewayRoot: s.gatewayRoot }).filter((c) => (s.columns.length === 0 && !c.onRequest) || s.columns.includes(c.id));
    const rate = (current: ColumnResult) => {
      if (results.settings.pacedRate === 0) {
        const b = (current.id === 'b' ? current : results.columns.find((c) => c.id === 'b'))?.peak?.rps;
        results.settings.pacedRate = Math.max(1, Math.round(s.rate ?? (b ? b / 2 : 1000)));
      }
      return results.settings.pacedRate;
    };
    // The sweep paces (a), (n), (b) and (c) at half of (b)'s peak, the columns' paced rate, in several
    // rounds: its first round is their paced run, not a run of their own (unless --rate sets another rate).
    const sweepCovers = !s.skip.has('tail') && s.rate === undefined;
    // (b) first: the paced rates come from its peak. The report orders the columns.
    const order = ['b', 'c', 'cq', 'c0', 'cm', 'n', 'a', 'd', 'e'];
    specs.sort((x, y) => order.indexOf(x.id) - order.indexOf(y.id));
    for (const spec of specs) {
      const pacedBySweep = sweepCovers && TAIL_COLUMNS.includes(spec.id);
      results.columns.push(await runColumn(spec, { dir, redis, seconds: s.seconds, warmupSeconds: s.warmupSeconds, pacedWarmupSeconds: s.pacedWarmupSeconds, connections: s.connections, rate, pacedBySweep }));
    }
    const allSpecs = columnSpecs({ redisUrl: redis.url, gatewayRoot: s.gatewayRoot });
    const bPeak = results.columns.find((c) => c.id === 'b')?.peak?.rps ?? results.settings.pacedRate * 2;
    const tail = await phase('tail', s.skip, () => measureTail(allSpecs, { dir, bPeak, seconds: s.seconds, warmupSeconds: s.pacedWarmupSeconds, connections: s.connections }));
    if (tail) results.tail = tail;
    if (sweepCovers) {
      const point = tail && !('error' in tail) ? targetPoint(tail) : undefined;
      for (const c of results.columns) {
        if (!c.peak || c.paced || !TAIL_COLUMNS.includes(c.id)) continue;
        c.paced = point?.columns.find((x) => x.id === c.id)?.firstRun;
        if (c.paced) (results.settings.pacedFromSweep ??= []).push(c.id);
      }
    }
    const probed = columnSpecs({ redisUrl: redis.url, gatewayRoot: s.gatewayRoot, probe: true });
    results.lowTail = await phase('lowtail', s.skip, () => measureLowTail(probed, {
      dir, rates: s.tailRates.length > 0 ? s.tailRates : undefined, columnIds: s.tailColumns.length > 0 ? s.tailColumns : undefined, rounds: s.tailRounds, seconds: s.tailSeconds, warmupSeconds: 2, connections: s.connections,
    }));
    const ratio = await phase('ratio', s.skip, () => measureRatioRounds(allSpecs, { dir, seconds: s.seconds, warmupSeconds: s.warmupSeconds, connections: s.connections, rounds: s.ratioRounds }));
    if (ratio) results.ratioRounds = ratio;
    results.heap = await phase('heap', s.skip, () => measureHeapSteady(
      columnSpecs({ redisUrl: redis.url, gatewayRoot: s.gatewayRoot, probe: true, exposeGc: true }).find((c) => c.id === 'c')!,
      { dir, rate: s.heapRate, seconds: s.heapSeconds, connections: s.connections },
    ));
    results.cacheGc = await phase('gc', s.skip, async () => ({
      typed: await measureCacheGc({ impl: 'typed', pins: s.gcPins, seconds: s.gcSeconds }).catch(errorOf),
      lru: await import('lru-cache').then(
        () => measureCacheGc({ impl: 'lru', pins: s.gcPins, seconds: s.gcSeconds }).catch(errorOf),
        () => ({ notMeasured: 'lru-cache is not installed' }),
      ),
    }));
    results.logCost = await phase('logcost', s.skip, () => measureLogCost());
    const pinRedis = s.skip.has('pins') ? undefined : await startRedis(await freePort(), dir);
    const pins = await phase('pins', s.skip, async () => {
      const rates = await measurePinRates({ redisUrl: redis.url, seconds: Math.min(5, s.seconds), prefill: 20_000, concurrency: 64 }).catch(errorOf);
      const memory = await measurePinMemoryIfAvailable({ count: s.pinCount, redisUrl: pinRedis!.url });
      return { rates, memory };
    });
    await pinRedis?.child.stop();
    if (pins && !('error' in pins)) results.pins = pins;
    const handover = await phase('handover', s.skip, async () => {
      const ho = await startRedis(await freePort(), dir);
      try { return await measureHandover({ dir, redisUrl: ho.url, pins: 100_000, transactions: s.handoverCount }); } finally { await ho.child.stop(); }
    });
    if (handover) results.handover = handover;
    results.propagation = await phase('propagation', s.skip, () => measurePropagation({ dir, redisUrl: redis.url, changes: s.changes }));
    results.growth = await phase('growth', s.skip, async () => {
      const points = measureDecisions();
      await measureGrowthEndToEnd({ dir, redisUrl: redis.url, seconds: s.growthSeconds, connections: s.connections, points });
      return points;
    });
    if (s.abRoot) {
      const ab = await phase('ab', s.skip, () => compareGateways({
        dir, redisUrl: redis.url, rounds: 3, seconds: Math.min(6, s.seconds), connections: s.connections,
        rate: Math.min(1500, results.settings.pacedRate || 1500),
        sides: s.abRootIsBefore
          ? [{ name: `before (${s.abRoot})`, root: s.abRoot }, { name: 'after (this repository)', root: s.gatewayRoot }]
          : [{ name: 'before (this repository)', root: s.gatewayRoot }, { name: `after (${s.abRoot})`, root: s.abRoot }],
      }));
      if (ab) results.ab = 'error' in ab ? ab : { ...ab, note: s.abNote, root: s.abRoot };
    }
    const now = await phase('profile', s.skip, () => profileGateway({ dir, redisUrl: redis.url, seconds: s.profileSeconds, connections: s.connections, gatewayRoot: s.gatewayRoot }));
    if (now) {
      const baseline = existsSync(BASELINE) ? JSON.parse(readFileSync(BASELINE, 'utf8')) as ProfileBaseline : undefined;
      results.profile = { now, baseline: s.saveBaseline ? undefined : baseline, savedAsBaseline: s.saveBaseline && !('error' in now) };
      if (s.saveBaseline && !('error' in now)) {
        const saved: ProfileBaseline = { date: machine.date, rps: now.rps, cpuUsPerRequest: now.cpuUsPerRequest, summary: now.summary };
        writeFileSync(BASELINE, `${JSON.stringify(saved, null, 2)}\n`);
        say(`profile baseline saved to ${BASELINE}`);
      }
    }
  } finally {
    await redis.child.stop();
  }
  machine.loadAfter = loadNow();
  results.totalSeconds = (Date.now() - started) / 1000;
  writeFileSync(join(dir, 'results.json'), JSON.stringify(results, null, 2));
  writeFileSync(s.out, renderReport(results));
  const q = ratios(results.columns, results.ratioRounds, results.tail);
  say(`wrote ${s.out} in ${Math.round(results.totalSeconds)} s: c/b ${q.cb ?? '–'} (target ≥ ${TARGETS.throughputCB}), p99 added over (a) ${q.addedP99Ms ?? '–'} ms (target < ${TARGETS.addedP99Ms} ms); raw figures in ${dir}/results.json`);
  // Raw profiles and logs stay in .bench-tmp/ (git-ignored) for a closer look; older runs are removed.
  pruneScratch('bench', dir);
}

main().catch((err) => {
  say(`failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
