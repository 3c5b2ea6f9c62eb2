/**
 * The cost of rules as they grow: 1, 100 and 10,000 merchant flags; 1, 20
 * and 200 rules. Two views: the routing decision alone, in process (what a
 * create pays to be placed), and the whole gateway at peak with that state
 * loaded (a child process, set up through its admin API, whose answer time
 * is reported too).
 */
import { performance } from 'node:perf_hooks';
import { buildConfig } from '../gateway/config.ts';
import { chooseNew, type DecideEnv, type Subject } from '../gateway/decide.ts';
import { identify } from '../gateway/identify.ts';
import { compileRules, rulesetProblems, type Ruleset } from '../gateway/rules.ts';
import { BENCH_RULES } from './columns.ts';
import { runPeak } from './load.ts';
import { ADMIN_TOKEN, freePort, startBackend, startGateway } from './procs.ts';
import { MERCHANTS } from './workload.ts';

export const FLAG_SIZES = [1, 100, 10_000];
export const RULE_SIZES = [1, 20, 200];

export interface GrowthPoint {
  kind: 'flags' | 'rules';
  size: number;
  /** Routing decision for a create, in process: ns per call. */
  decisionNs: number;
  /** Validating and compiling the ruleset (rules) once, ms. */
  compileMs?: number;
  /** Setting the state through the admin API: total ms (flags: one PUT each, 16 in flight; rules: one PUT). */
  applyMs?: number;
  rps?: number;
  p99Ms?: number;
  cpuUsPerRequest?: number;
}

/** `n` rules: n-2 that name ten other merchants each (never matching the workload, so every create scans them), then the benchmark's two. */
export function growRules(n: number): Ruleset {
  const filler = Array.from({ length: Math.max(0, n - BENCH_RULES.rules.length) }, (_, i) => ({
    name: `other-merchants-${i}`, match: { merchants: Array.from({ length: 10 }, (_, j) => `X-${i}-${j}`) }, backend: 'next',
  }));
  // One rule: the v1 split alone, v2 then goes to the default (next), the same routing as the benchmark rules.
  if (n === 1) return { rules: [BENCH_RULES.rules[1]], default: 'next' } as Ruleset;
  return { rules: [...filler, ...BENCH_RULES.rules], default: 'legacy' } as Ruleset;
}

/** Flags for `n` merchants: the workload's merchants first (alternately legacy and next), then others. */
export function flagMerchants(n: number): { merchant: string; backend: string }[] {
  return Array.from({ length: n }, (_, i) => ({
    merchant: i < MERCHANTS ? `M-${String(i).padStart(4, '0')}` : `F-${i}`, backend: i % 2 === 0 ? 'next' : 'legacy',
  }));
}

const backendsConfig = buildConfig({
  backends: { legacy: { url: 'http://127.0.0.1:1', apiVersions: ['v1'] }, next: { url: 'http://127.0.0.1:2', apiVersions: ['v1', 'v2'] } },
  pins: { unpinned: [{ backend: 'legacy' }] },
}).backends;

/** ns per routing decision of a v1 create, over `iterations` calls with varying merchants. */
function decisionNs(rules: Ruleset, flags: Map<string, string>, iterations: number): number {
  const env: DecideEnv = {
    state: { rules: compileRules(rules, 1, backendsConfig), flags }, backends: backendsConfig, unpinned: [],
    pins: {
      lookup: async () => null, claim: async (_k, backend) => ({ backend, pinnedAt: 0, expiresAt: 0, created: true }),
      release: async () => true, reassert: async (_k, backend) => ({ backend, pinnedAt: 0, expiresAt: 0, created: false }),
    },
    isOpen: () => false,
  } as DecideEnv;
  const t = identify('POST', '/api/v1/payments');
  const subjects: Subject[] = Array.from({ length: 1024 }, (_, i) => ({
    t, merchant: `M-${String(i % MERCHANTS).padStart(4, '0')}`, method: 'POST', orderId: `O-${i}`, header: () => undefined,
  }));
  let sink = 0;
  for (let i = 0; i < 20_000; i++) sink += chooseNew(env, subjects[i & 1023]).backend.length;
  const started = performance.now();
  for (let i = 0; i < iterations; i++) sink += chooseNew(env, subjects[i & 1023]).backend.length;
  const ns = ((performance.now() - started) * 1e6) / iterations;
  return sink > 0 ? Math.round(ns) : 0;
}

export function measureDecisions(iterations = 200_000): GrowthPoint[] {
  const out: GrowthPoint[] = [];
  for (const size of FLAG_SIZES) {
    const flags = new Map(flagMerchants(size).map((f) => [f.merchant, f.backend]));
    out.push({ kind: 'flags', size, decisionNs: decisionNs(BENCH_RULES as Ruleset, flags, iterations) });
  }
  for (const size of RULE_SIZES) {
    const rules = growRules(size);
    const started = performance.now();
    const problems = rulesetProblems(rules, backendsConfig);
    if (problems.length > 0) throw new Error(`growth ruleset of ${size} rules is invalid: ${JSON.stringify(problems[0])}`);
    compileRules(rules, 1, backendsConfig);
    const compileMs = Math.round((performance.now() - started) * 100) / 100;
    out.push({ kind: 'rules', size, decisionNs: decisionNs(rules, new Map(), iterations), compileMs });
  }
  return out;
}

async function admin(url: string, method: string, body: unknown): Promise<void> {
  const r = await fetch(url, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await r.arrayBuffer();
  if (!r.ok) throw new Error(`${method} ${url} answered ${r.status}`);
}

/** The gateway at peak for `seconds` with each size of flags, then of rules, loaded through its admin API. */
export async function measureGrowthEndToEnd(o: { dir: string; redisUrl: string; seconds: number; connections: number; points: GrowthPoint[] }): Promise<void> {
  const legacy = await startBackend('legacy', await freePort(), o.dir);
  const next = await startBackend('next', await freePort(), o.dir);
  try {
    for (const kind of ['flags', 'rules'] as const) {
      const gw = await startGateway(o.dir, {
        name: `gateway-growth-${kind}`, backends: { legacy: legacy.url, next: next.url }, redisUrl: o.redisUrl,
        keyPrefix: `bench-growth-${kind}-${Date.now().toString(36)}:`, rules: BENCH_RULES, logLevel: 'info',
      });
      try {
        const targets = { v1: gw.url, v2: gw.url };
        await runPeak({ targets, connections: o.connections, seconds: 2, tag: `gw${kind}` });
        let have = 0;
        for (const point of o.points.filter((p) => p.kind === kind)) {
          const started = performance.now();
          if (kind === 'flags') {
            const todo = flagMerchants(point.size).slice(have);
            have = point.size;
            let next = 0;
            await Promise.all(Array.from({ length: 16 }, async () => {
              while (next < todo.length) {
                const f = todo[next++];
                await admin(`${gw.adminUrl}/admin/merchants/${f.merchant}`, 'PUT', { backend: f.backend, comment: 'growth benchmark' });
              }
            }));
          } else {
            await admin(`${gw.adminUrl}/admin/rules`, 'PUT', { ...growRules(point.size), comment: `growth benchmark: ${point.size} rules` });
          }
          point.applyMs = Math.round(performance.now() - started);
          const cpu0 = gw.child.cpuMs();
          const s = await runPeak({ targets, connections: o.connections, seconds: o.seconds, tag: `g${kind}${point.size}` });
          point.rps = s.rps;
          point.p99Ms = s.latencyMs.p99;
          point.cpuUsPerRequest = Math.round(((gw.child.cpuMs() - cpu0) * 1000) / Math.max(1, s.requests));
        }
      } finally {
        await gw.child.stop();
      }
    }
  } finally {
    await Promise.all([legacy.child.stop(), next.child.stop()]);
  }
}
