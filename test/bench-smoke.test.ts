import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useStack } from './helpers/stack.ts';
import { runPaced, runPeak } from '../bench/load.ts';
import { parseResponse, RawClient } from '../bench/raw-client.ts';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { summarizeProfile, type CpuProfile } from '../bench/profile.ts';
import { haproxyConfig } from '../bench/proxy-configs.ts';
import { ratios, renderReport, TARGETS, type BenchResults } from '../bench/report.ts';
import { addedAt, targetPoint, type TailSweep } from '../bench/tail.ts';
import type { RunStats } from '../bench/stats.ts';
import { describeMachine } from '../bench/machine.ts';
import { figures, numbers, paragraphs, row, section, tables } from './helpers/markdown.ts';
import { bucketsOf, countOf, minus, quantileMs } from '../bench/histograms.ts';
import { summarizeLowTail } from '../bench/lowtail.ts';
import { measureCacheGc } from '../bench/pin-cache-gc.ts';
import { probeSetup } from '../bench/procs.ts';
import type { ProbeReading } from '../bench/probe.ts';

const stack = useStack();

let peak: RunStats;
let paced: RunStats;

test('the benchmark workload runs through the gateway at peak and paced, every follow-up reaching its payment', async () => {
  const targets = { v1: stack.gw.url, v2: stack.gw.url };
  peak = await runPeak({ targets, connections: 4, seconds: 1, tag: 'smokeA' });
  paced = await runPaced({ targets, rate: 100, seconds: 1, warmupSeconds: 1, tag: 'smokeB' });
  for (const run of [peak, paced]) {
    assert.ok(run.requests > 0);
    assert.equal(run.non2xx, 0, JSON.stringify(run.byStep));
    assert.equal(run.followUp404, 0);
    assert.equal(run.errors, 0);
    for (const v of Object.values(run.latencyMs)) assert.ok(Number.isFinite(v) && v > 0);
  }
  // The warm-up second's answers are checked, its latencies are not kept.
  const answered = Object.values(paced.byStep).reduce((n, row) => n + Object.values(row).reduce((a, b) => a + b, 0), 0);
  assert.equal(answered, 200);
  assert.equal(paced.requests, 100);
  assert.deepEqual(Object.keys(paced.byStep).sort(), [
    'v1 close', 'v1 create', 'v1 get', 'v1 query', 'v1 refund', 'v2 cancel', 'v2 create', 'v2 get', 'v2 query', 'v2 refund',
  ]);
});

test('the report shows every section, the ratios and the verdicts, and says what was not measured', () => {
  const col = (id: string, label: string, s: RunStats) => ({ id, label, what: 'smoke', peak: { ...s, cpuUs: { proxy: 100, backends: 50, redis: 5, loader: 80 } }, paced: s });
  const results: BenchResults = {
    machine: describeMachine(),
    settings: { seconds: 1, warmupSeconds: 1, connections: 4, pacedRate: 100, pinCount: 10, changes: 1, growthSeconds: 1, profileSeconds: 1 },
    columns: [col('b', '(b) bare', peak), col('a', '(a) direct', paced), col('c', '(c) gateway', peak), { id: 'e', label: '(e) nginx', what: 'smoke', skipped: 'nginx is not installed' }],
    pins: { rates: { error: 'no redis' }, memory: { notMeasured: 'bench/pin-memory.ts could not be loaded' } },
    propagation: { changes: 1, medianMs: 1, p90Ms: 1, maxMs: 1, timeouts: 0, putMedianMs: 2, probeMedianMs: 1, seenAtFirstProbe: 1 },
    growth: [{ kind: 'flags', size: 1, decisionNs: 500 }],
    profile: { now: { error: 'skipped in the smoke test' } },
    totalSeconds: 3,
  };
  const md = renderReport(results);
  for (const heading of ['# Benchmarks', '## Machine and versions', '## Method', '## Workload at peak', '## Workload paced at 100 req/s', '## Ratios and targets', '## Pins', '## Rule propagation', '## Cost of rules as they grow', '## Profile']) {
    assert.ok(md.includes(heading), heading);
  }
  assert.equal(ratios(results.columns).cb, 1);
  const [targets] = tables(section(md, '## Ratios and targets'));
  const cb = row(targets, 'throughput c/b');
  assert.deepEqual([numbers(cb[1]), numbers(cb[2]), cb[3]], [[1], [TARGETS.throughputCB], '**met**']);
  // What was not measured is named with its reason, and a skipped column has no figures.
  assert.ok(section(md, '## Pins').includes('bench/pin-memory.ts could not be loaded'));
  assert.ok(section(md, '## Method').includes('nginx is not installed'));
  assert.ok(section(md, '## Profile').includes('skipped in the smoke test'));
  const [peakTable] = tables(section(md, '## Workload at peak'));
  assert.deepEqual(peakTable.map((r) => r[0]), ['(a) direct', '(b) bare', '(c) gateway']);
  assert.deepEqual(numbers(row(peakTable, '(c) gateway')[1]), [Math.round(peak.rps)]);
});

test('with interleaved rounds, the c/b verdict is their median ratio, and the rounds are shown', () => {
  const col = (id: string, rps: number) => ({ id, label: `(${id})`, what: 'smoke', peak: { ...peak, rps, cpuUs: { proxy: 100, backends: 50, loader: 80 } } });
  const results: BenchResults = {
    machine: describeMachine(),
    settings: { seconds: 1, warmupSeconds: 1, connections: 4, pacedRate: 100, pinCount: 10, changes: 1, growthSeconds: 1, profileSeconds: 1 },
    columns: [col('b', 1000), col('c', 700)],
    ratioRounds: {
      seconds: 10, connections: 32, medianRatio: 0.86,
      rounds: [{ b: 1000, c: 800, ratio: 0.8, failures: 0 }, { b: 1000, c: 860, ratio: 0.86, failures: 0 }, { b: 1000, c: 900, ratio: 0.9, failures: 0 }],
    },
    totalSeconds: 1,
  };
  const q = ratios(results.columns, results.ratioRounds);
  assert.equal(q.cb, 0.86, 'the median round decides');
  assert.equal(q.cbColumns, 0.7, 'the single peaks are still reported');
  const ratiosSection = section(renderReport(results), '## Ratios and targets');
  const [rounds, targets] = tables(ratiosSection);
  assert.deepEqual(rounds.map((r) => r.flatMap(numbers)), [[1, 1000, 800, 0.8, 0], [2, 1000, 860, 0.86, 0], [3, 1000, 900, 0.9, 0]]);
  const cb = row(targets, 'throughput c/b');
  assert.deepEqual([numbers(cb[1]), cb[3]], [[0.86], '**met**']);
  const roundRatios = rounds.map((r) => numbers(r[3])[0]).sort((x, y) => x - y);
  assert.equal(numbers(cb[1])[0], roundRatios[1], 'the verdict\'s figure is the median of the rounds');
  assert.ok(numbers(ratiosSection).includes(0.7), 'the single peaks\' ratio is shown beside the rounds');
});

test('the profile reduction splits busy time by package and project file, idle left out', () => {
  const root = '/repo';
  const profile: CpuProfile = {
    startTime: 0, endTime: 10_000,
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 4] },
      { id: 2, callFrame: { functionName: 'handleMerchantRequest', url: 'file:///repo/gateway/pipeline.ts', lineNumber: 64 }, children: [3] },
      { id: 3, callFrame: { functionName: 'write', url: 'file:///repo/node_modules/pino/lib/proto.js', lineNumber: 10 } },
      { id: 4, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
    ],
    samples: [2, 3, 3, 3, 4, 4],
    timeDeltas: [1000, 1000, 1000, 1000, 5000, 5000],
  };
  const s = summarizeProfile(profile, root);
  assert.equal(s.busyMs, 4);
  assert.deepEqual(s.byCategory.map((c) => [c.name, c.share]), [['pino', 75], ['gateway/pipeline.ts', 25]]);
  assert.deepEqual(s.projectInclusive.map((c) => [c.name, c.share]), [['handleMerchantRequest (gateway/pipeline.ts:65)', 100]]);
});

test('the raw load client reads Content-Length and chunked answers, and waits for incomplete ones', () => {
  const cl = Buffer.from('HTTP/1.1 201 Created\r\nContent-Length: 7\r\n\r\n{"a":1}HTTP/1.1');
  assert.deepEqual(parseResponse(cl), { answer: { status: 201, body: '{"a":1}' }, length: cl.length - 8 });
  const chunked = Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\n{"b\r\n3\r\n":2\r\n1\r\n}\r\n0\r\n\r\n');
  assert.deepEqual(parseResponse(chunked)?.answer, { status: 200, body: '{"b":2}' });
  assert.equal(parseResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"a"')), null);
});

test('the HAProxy configuration the benchmark generates is accepted by haproxy -c', (t) => {
  if (spawnSync('sh', ['-c', 'command -v haproxy']).status !== 0) { t.skip('haproxy is not installed'); return; }
  const dir = mkdtempSync(join(tmpdir(), 'cutover-bench-'));
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, haproxyConfig(18080, { legacy: 'http://127.0.0.1:19001', next: 'http://127.0.0.1:19002' }));
  const r = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});

test('the rate sweep shows each column\'s p99 and what it adds over (a); at the target\'s rate the verdict is the median of paired rounds', () => {
  const col = (id: string, p99Rounds: number[]) => {
    const sorted = [...p99Rounds].sort((x, y) => x - y);
    return { id, p50: 1, p99: sorted[sorted.length >> 1], p999: 30, p99Rounds, failures: 0 };
  };
  const results: BenchResults = {
    machine: describeMachine(),
    settings: { seconds: 1, warmupSeconds: 1, pacedWarmupSeconds: 3, connections: 4, pacedRate: 2000, pinCount: 10, changes: 1, growthSeconds: 1, profileSeconds: 1 },
    columns: [
      { id: 'a', label: '(a) direct', what: 'smoke', paced: { ...paced, latencyMs: { ...paced.latencyMs, p99: 2 } } },
      { id: 'n', label: '(n) bare node', what: 'smoke' },
      { id: 'b', label: '(b) bare', what: 'smoke' },
      { id: 'c', label: '(c) gateway', what: 'smoke', paced: { ...paced, latencyMs: { ...paced.latencyMs, p99: 40 } } },
    ],
    tail: {
      seconds: 10, warmupSeconds: 3, columnIds: ['a', 'n', 'b', 'c'], points: [
        { rate: 500, fraction: 0.125, rounds: 1, columns: [col('a', [1.5]), col('b', [2.5]), col('c', [3.0]), col('n', [2.0])] },
        { rate: 1000, fraction: 0.25, rounds: 1, columns: [col('a', [1.6]), col('b', [2.9]), col('c', [4.1]), col('n', [3.0])] },
        // Paired differences of (c): 2, 9, 1.5 -> median 2; the difference of the medians would be 4 - 2 = 2 as well,
        // so (b) tells them apart: 8-1, 3-3, 2.5-2 -> median 0.5, while medians give 3 - 2 = 1.
        { rate: 2000, fraction: 0.5, rounds: 3, columns: [col('a', [1, 3, 2]), col('b', [8, 3, 2.5]), col('c', [3, 12, 3.5]), col('n', [4, 6, 5])] },
      ],
    },
    totalSeconds: 1,
  };
  const tail = results.tail as TailSweep;
  // Paired differences at the target's rate: (c) 2, 9, 1.5 -> 2; (b) 7, 0, 0.5 -> 0.5 (the medians' difference would be 1); (n) 3, 3, 3 -> 3.
  assert.deepEqual(['b', 'c', 'n'].map((id) => addedAt(targetPoint(tail)!, id)), [0.5, 2, 3]);
  const q = ratios(results.columns, undefined, tail);
  // The verdict comes from the rounds, not from the single paced runs (which would say 38 ms).
  assert.deepEqual([q.addedP99Ms, q.addedP99Rounds, q.addedP99MsColumns, q.addedP99Ms_n], [2, 3, 38, 3]);

  const md = renderReport(results);
  const sweep = section(md, '## p99 added over (a) as the rate grows');
  const [points] = tables(sweep);
  // rate, share %, rounds, then p99 and (added) of (a), (n), (b), (c), then failures.
  assert.deepEqual(points.map((r) => r.flatMap(numbers)), [
    [500, 12.5, 1, 1.5, 2, 0.5, 2.5, 1, 3, 1.5, 0],
    [1000, 25, 1, 1.6, 3, 1.4, 2.9, 1.3, 4.1, 2.5, 0],
    [2000, 50, 3, 2, 5, 3, 3, 0.5, 3.5, 2, 0],
  ]);
  const perRound = sweep.split('\n').find((l) => numbers(l)[0] === 99 && numbers(l)[1] === 2000);
  assert.ok(perRound, 'the rounds of the target rate are listed');
  assert.deepEqual(perRound.split(';').map((part) => numbers(part).slice(-3)), [[1, 3, 2], [8, 3, 2.5], [3, 12, 3.5], [4, 6, 5]]);

  const [targets] = tables(section(md, '## Ratios and targets'));
  const verdict = row(targets, 'p99 added by the gateway over (a) at half');
  assert.deepEqual([numbers(verdict[0]).at(-1), numbers(verdict[1]), numbers(verdict[2]), verdict[3]], [3, [2], [TARGETS.addedP99Ms], '**not met**']);
  assert.deepEqual(numbers(row(targets, 'p99 added by the gateway over (a) in the columns')[1]), [38]);
  assert.deepEqual(numbers(row(targets, 'highest rate of the sweep at which the gateway')[1]), [500]);
  assert.deepEqual(numbers(row(targets, 'p99 added by the bare Node http proxy (n)')[1]), [3]);
  // (n) adds 1.4 at 1,000 req/s, 3 at 2,000.
  assert.deepEqual(numbers(row(targets, 'highest rate of the sweep at which (n)')[1]), [1000]);
});

test('the raw load client reuses a fresh idle connection, and opens a new one instead of reusing one idle past its limit', async () => {
  let connections = 0;
  const server = createServer((_req, res) => res.end('ok'));
  server.on('connection', () => { connections += 1; });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const client = new RawClient(`http://127.0.0.1:${port}`, { maxIdleMs: 50 });
  try {
    assert.equal((await client.request('GET', '/', {})).body, 'ok');
    assert.equal((await client.request('GET', '/', {})).status, 200);
    assert.equal(connections, 1, 'a connection idle for a moment is reused');
    await new Promise((r) => setTimeout(r, 120));
    assert.equal((await client.request('GET', '/', {})).body, 'ok');
    assert.equal(connections, 2, 'a connection idle past the limit is replaced, not reused');
    assert.equal(client.connections, 1, 'the stale one is closed');
  } finally {
    client.close();
    server.close();
  }
});

test('the pins section shows each kind of pin alone and what a claim token and a request fingerprint add', () => {
  const memory = {
    pins: 100, bytesPerPin: 30, usedMemoryBefore: 1000, usedMemoryAfter: 4000, method: 'smoke', hashMaxListpackEntries: '512',
    byKind: [
      { kind: 'transaction', value: 'an integer', pins: 10, bytesPerPin: 24 },
      { kind: 'order', value: 'an integer with the token', pins: 10, bytesPerPin: 28.5 },
      { kind: 'key', value: 'integer:fingerprint', pins: 10, bytesPerPin: 46 },
    ],
  };
  const md = renderReport({
    machine: describeMachine(),
    settings: { seconds: 1, warmupSeconds: 1, connections: 4, pacedRate: 100, pinCount: 100, changes: 1, growthSeconds: 1, profileSeconds: 1 },
    columns: [], pins: { rates: { error: 'no redis' }, memory }, totalSeconds: 1,
  });
  const pins = section(md, '## Pins');
  const [, byKind] = tables(pins);
  assert.deepEqual(row(byKind, 'order'), ['order', 'an integer with the token', '10', '28.5']);
  // What the claim token (order - transaction) and the fingerprint with it (key - transaction) add, and key - order.
  assert.deepEqual(paragraphs(pins).flatMap(numbers), [4.5, 22, 17.5]);
});

test('histograms read from /metrics: buckets summed over label sets, differences, interpolated quantiles', () => {
  const before = [
    'cutover_store_duration_seconds_bucket{le="0.001",command="claim"} 10',
    'cutover_store_duration_seconds_bucket{le="0.002",command="claim"} 10',
    'cutover_store_duration_seconds_bucket{le="+Inf",command="claim"} 10',
    'cutover_store_duration_seconds_bucket{le="0.001",command="pin"} 7',
  ].join('\n');
  const after = [
    'cutover_store_duration_seconds_bucket{le="0.001",command="claim"} 60',
    'cutover_store_duration_seconds_bucket{le="0.002",command="claim"} 100',
    'cutover_store_duration_seconds_bucket{le="+Inf",command="claim"} 110',
    'cutover_store_duration_seconds_bucket{le="0.001",command="pin"} 9',
    'cutover_request_duration_seconds_bucket{le="0.001",api_version="v1",backend="legacy"} 3',
    'cutover_request_duration_seconds_bucket{le="0.001",api_version="v2",backend="next"} 4',
  ].join('\n');
  const claim = minus(bucketsOf(after, 'cutover_store_duration_seconds', { command: 'claim' }), bucketsOf(before, 'cutover_store_duration_seconds', { command: 'claim' }));
  assert.equal(countOf(claim), 100);
  assert.equal(quantileMs(claim, 0.5), 1);
  assert.equal(quantileMs(claim, 0.7), 1.5);
  assert.equal(quantileMs(claim, 0.9), 2);
  assert.equal(quantileMs(claim, 0.99), 2, 'in +Inf: the highest finite bound');
  assert.equal(bucketsOf(after, 'cutover_request_duration_seconds').get(0.001), 7, 'summed over label sets');
  assert.equal(quantileMs(new Map(), 0.99), undefined);
});

test('the low-rate tail: medians over rounds, rounds (c) beats (b), the relative verdict, GC and stage figures', () => {
  const run = (p99: number, p999: number) => ({ ...paced, latencyMs: { ...paced.latencyMs, p50: 1, p99, p999 }, non2xx: 0, errors: 0, followUp404: 0, saturatedAt: undefined });
  const probe = (p99Ms: number, majorMs: number) => ({
    seconds: 10, eventLoop: { p50Ms: 0.1, p99Ms, maxMs: p99Ms * 3, meanMs: 0.2 }, heap: {}, external: 0,
    gc: { minor: { count: 4, totalMs: 2, maxMs: 0.8 }, major: { count: 1, totalMs: majorMs, maxMs: majorMs } },
  });
  const stages = new Map([['claim', new Map([[0.001, 90], [0.002, 100], [Infinity, 100]])]]);
  const point = summarizeLowTail(300, 3, [
    ['b', { runs: [run(4, 10), run(6, 12), run(5, 20)], probes: [probe(1, 3), probe(2, 4), probe(3, 5)], stages: new Map() }],
    ['c', { runs: [run(9, 30), run(5, 40), run(20, 19)], probes: [probe(2, 6), probe(2, 7), probe(2, 8)], stages }],
  ]);
  const [b, c] = point.columns;
  assert.deepEqual([b.p99, b.p999, c.p99, c.p999], [5, 12, 9, 30]);
  assert.deepEqual(point.cBeatsB, { p99: 1, p999: 1, of: 3 });
  // Limits: 1.5 × 5 + 2 = 9.5 ms for p99 (9: met), 2 × 12 + 5 = 29 ms for p99.9 (30: not met).
  assert.deepEqual(point.verdict, { p99LimitMs: 9.5, p999LimitMs: 29, p99Met: true, p999Met: false });
  assert.deepEqual(c.gc, { seconds: 30, pauses: 15, totalMs: 27, maxMs: 8, major: { count: 3, totalMs: 21, maxMs: 8 } });
  assert.deepEqual(b.eventLoop, { p99Ms: 2, maxMs: 9 });
  const claim = c.stages!.find((s) => s.stage === 'claim')!;
  assert.deepEqual([claim.count, claim.p50Ms, claim.p99Ms], [100, 0.556, 1.9]);
  assert.equal(b.stages, undefined, 'no stages for a column without /metrics');
  const md = renderReport({
    machine: describeMachine(), columns: [], totalSeconds: 1,
    settings: { seconds: 1, warmupSeconds: 1, connections: 4, pacedRate: 100, pinCount: 10, changes: 1, growthSeconds: 1, profileSeconds: 1 },
    lowTail: { seconds: 8, warmupSeconds: 2, rounds: 3, columnIds: ['b', 'c'], points: [point] },
  });
  const [byColumn, verdicts] = tables(section(md, '## The tail at low rates'));
  assert.deepEqual(figures(row(verdicts, '300 req/s')), [[300], [9], [9.5], '**met**', [30], [29], '**not met**', [1, 3, 1, 3]]);
  const [targets] = tables(section(md, '## Ratios and targets'));
  assert.equal(row(targets, "(c)'s p99 and p99.9 against (b)'s at low rates")[3], '**not met**', 'the relative tail target');
  const cRow = byColumn.find((r) => r[1] === '(c)')!;
  assert.deepEqual(figures(cRow), [[300], [], [1], [9], [30], [9, 5, 20], [2, 6], [15, 27, 8], [3, 8], [0]]);
});

test('filling the typed-array pin cache leaves the old space as it was; the same pins in lru-cache grow it', async (t) => {
  const typed = await measureCacheGc({ impl: 'typed', pins: 20_000, seconds: 0.5 });
  assert.equal(typed.pins, 20_000);
  assert.ok(typed.requests > 0);
  assert.ok(typed.oldSpaceFull - typed.oldSpaceEmpty < 256 * 1024, `old space grew by ${typed.oldSpaceFull - typed.oldSpaceEmpty} bytes`);
  assert.ok(Number.isFinite(typed.fullGcMs) && typed.fullGcMs > 0);
  // The comparison needs lru-cache, which the gateway itself no longer uses.
  if (await import('lru-cache').then(() => true, () => false)) {
    const lru = await measureCacheGc({ impl: 'lru', pins: 20_000, seconds: 0.5 });
    assert.ok(lru.oldSpaceFull - lru.oldSpaceEmpty > 1024 * 1024, `old space grew by ${lru.oldSpaceFull - lru.oldSpaceEmpty} bytes`);
  } else t.diagnostic('lru-cache is not installed: the comparison is not run');
  const md = renderReport({
    machine: describeMachine(), columns: [], totalSeconds: 1,
    settings: { seconds: 1, warmupSeconds: 1, connections: 4, pacedRate: 100, pinCount: 10, changes: 1, growthSeconds: 1, profileSeconds: 1 },
    cacheGc: { typed: { ...typed, major: { count: 2, maxMs: 12.5, totalMs: 20 }, fullGcMs: 4 }, lru: { notMeasured: 'lru-cache is not installed' } },
    logCost: { lines: 1000, rounds: 1, nsPerLine: 900, nsPerLineOff: 60, nsPerLinePinoPath: 4500 },
  });
  const gc = section(md, '## GC pauses with a million cached pins');
  const [runs, gcTargets] = tables(gc);
  assert.deepEqual(figures(row(gcTargets, 'longest major GC pause')), [[20_000, 2, 0.5], [12.5], [10], '**not met**']);
  assert.deepEqual(figures(row(gcTargets, 'forced full GC')), [[20_000], [4], [10], '**met**']);
  assert.deepEqual(runs.map((r) => r[0]), ['typed'], 'lru is not measured');
  assert.ok(paragraphs(gc).some((l) => l.includes('lru-cache is not installed')), 'the reason lru is not measured is given');
  const [logCost] = tables(section(md, '## Cost of the access log line'));
  assert.deepEqual(logCost.map((r) => numbers(r[1])), [[900], [60], [4500]]);
});

test('the probe preloaded into a column reports its event-loop delay, GC pauses and heap spaces', async () => {
  const probe = await probeSetup({ exposeGc: true });
  const child = spawn(process.execPath, [...probe.nodeArgs, '-e', 'setInterval(() => { const a = []; for (let i = 0; i < 1e5; i++) a.push({ i }); }, 5)'], {
    env: { ...process.env, ...probe.env }, stdio: 'ignore',
  });
  try {
    let reading: ProbeReading | undefined;
    for (let tries = 0; tries < 100 && !reading; tries++) {
      try { reading = await (await fetch(probe.url)).json() as ProbeReading; } catch { await new Promise((r) => setTimeout(r, 50)); }
    }
    assert.ok(reading, 'the probe answers');
    let next: ProbeReading;
    do { next = await (await fetch(`${probe.url}?gc=1`)).json() as ProbeReading; } while (!next.gc.minor);
    assert.ok(next.gc.minor.count > 0 && next.gc.minor.totalMs > 0);
    assert.ok(next.heap.old_space > 0 && next.heap.new_space >= 0);
    assert.ok(next.eventLoop.maxMs >= next.eventLoop.p99Ms && next.eventLoop.p99Ms >= 0);
  } finally {
    child.kill();
  }
});
