/**
 * Profiles the gateway's hot path: the gateway runs under `--cpu-prof`
 * while autocannon drives the workload at peak; the V8 profile is then
 * reduced to where the CPU went, by package or project file (self time) and
 * by function (self and inclusive time).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runPeak } from './load.ts';
import { BENCH_RULES } from './columns.ts';
import { freePort, ROOT, startBackend, startGateway } from './procs.ts';

interface CpuNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
export interface CpuProfile { nodes: CpuNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export interface Share { name: string; ms: number; share: number }
export interface ProfileSummary {
  /** Sampled CPU time, idle excluded, in ms. */
  busyMs: number;
  byCategory: Share[];
  topSelf: Share[];
  /** Inclusive time of the project's own functions (gateway/, routes/). */
  projectInclusive: Share[];
}

/** What a call frame belongs to: a package, a project file, a part of Node, or V8 itself. */
export function categoryOf(url: string, fn: string, root = ROOT): string {
  if (!url) return fn === '(garbage collector)' ? 'V8: garbage collector' : fn === '(program)' ? 'V8: program (native)' : `V8: ${fn || 'anonymous'}`;
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) {
    const m = url.slice(5).replace(/^internal\//, '');
    if (/^(_http|http)/.test(m)) return 'node: http';
    if (/^(net|stream|streams\/|_stream|tcp|dns)/.test(m)) return 'node: net and streams';
    if (/^(timers|process\/task_queues|async_hooks|events)/.test(m)) return 'node: timers, events, ticks';
    return 'node: other';
  }
  const path = url.replace(/^file:\/\//, '');
  if (path.startsWith(root)) return path.slice(root.length).replace(/^\//, '');
  return path;
}

function frameName(n: CpuNode, root: string): string {
  const where = categoryOf(n.callFrame.url, n.callFrame.functionName, root);
  const fn = n.callFrame.functionName || '(anonymous)';
  return n.callFrame.url ? `${fn} (${where}:${n.callFrame.lineNumber + 1})` : where;
}

/** Reduces a V8 CPU profile to shares of busy time. */
export function summarizeProfile(p: CpuProfile, root = ROOT, top = 20): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const isIdle = (n: CpuNode) => n.callFrame.functionName === '(idle)' && !n.callFrame.url;
  let busyUs = 0;
  const cat = new Map<string, number>();
  const self = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    if (isIdle(n)) continue;
    busyUs += us;
    const c = categoryOf(n.callFrame.url, n.callFrame.functionName, root);
    cat.set(c, (cat.get(c) ?? 0) + us);
    const f = frameName(n, root);
    self.set(f, (self.get(f) ?? 0) + us);
  }
  // Inclusive time per project function, counting a recursive function once per stack.
  const inclusive = new Map<string, number>();
  const onStack = new Map<string, number>();
  const root0 = p.nodes[0];
  const walk = (n: CpuNode): number => {
    const f = frameName(n, root);
    const mine = n.callFrame.url.includes('/gateway/') || n.callFrame.url.includes('/routes/');
    onStack.set(f, (onStack.get(f) ?? 0) + 1);
    let total = isIdle(n) ? 0 : (selfUs.get(n.id) ?? 0);
    for (const c of n.children ?? []) total += walk(byId.get(c)!);
    onStack.set(f, onStack.get(f)! - 1);
    if (mine && onStack.get(f) === 0) inclusive.set(f, (inclusive.get(f) ?? 0) + total);
    return total;
  };
  walk(root0);
  const shares = (m: Map<string, number>, limit: number): Share[] => [...m]
    .sort((a, b) => b[1] - a[1]).slice(0, limit)
    .map(([name, us]) => ({ name, ms: Math.round(us / 100) / 10, share: busyUs > 0 ? Math.round((us / busyUs) * 1000) / 10 : 0 }));
  return { busyMs: Math.round(busyUs / 1000), byCategory: shares(cat, 18), topSelf: shares(self, top), projectInclusive: shares(inclusive, top) };
}

export interface ProfileRun { seconds: number; rps: number; cpuUsPerRequest: number; summary: ProfileSummary; file: string }

/** Runs the gateway (everything on, as column (c)) under --cpu-prof at peak for `seconds`. */
export async function profileGateway(o: { dir: string; redisUrl: string; seconds: number; connections: number; gatewayRoot?: string }): Promise<ProfileRun> {
  const profDir = join(o.dir, `profile-${Date.now().toString(36)}`);
  const legacy = await startBackend('legacy', await freePort(), o.dir);
  const next = await startBackend('next', await freePort(), o.dir);
  const gw = await startGateway(o.dir, {
    name: 'gateway-profile', backends: { legacy: legacy.url, next: next.url }, redisUrl: o.redisUrl,
    keyPrefix: `bench-prof-${Date.now().toString(36)}:`, rules: BENCH_RULES, logLevel: 'info', root: o.gatewayRoot,
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-name=gateway.cpuprofile'],
  });
  try {
    const targets = { v1: gw.url, v2: gw.url };
    await runPeak({ targets, connections: o.connections, seconds: 2, tag: 'pw' });
    const cpu0 = gw.child.cpuMs();
    const stats = await runPeak({ targets, connections: o.connections, seconds: o.seconds, tag: 'pp' });
    const cpuUsPerRequest = Math.round(((gw.child.cpuMs() - cpu0) * 1000) / Math.max(1, stats.requests));
    await gw.child.stop(15_000);
    const file = join(profDir, readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))!);
    const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, o.gatewayRoot ? `${resolve(o.gatewayRoot)}/` : ROOT);
    return { seconds: o.seconds, rps: stats.rps, cpuUsPerRequest, summary, file };
  } finally {
    await Promise.all([gw.child.stop(), legacy.child.stop(), next.child.stop()]);
  }
}
