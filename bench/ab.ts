/**
 * A/B of two gateway trees (the repository's and a changed copy): the same
 * paced workload, rounds interleaved so that load from other work on the
 * machine falls on both alike, CPU per request from /proc. CPU per request
 * at a fixed rate moves far less with such load than peak throughput does.
 */
import { BENCH_RULES } from './columns.ts';
import { runPaced, runPeak } from './load.ts';
import { freePort, startBackend, startGateway } from './procs.ts';
import { median } from './stats.ts';

export interface AbSide { name: string; root?: string }
export interface AbResult {
  rate: number; seconds: number; rounds: number;
  sides: { name: string; root?: string; cpuUsPerRequest: number[]; medianCpuUs: number; medianP50Ms: number; medianP99Ms: number }[];
}


export async function compareGateways(o: { dir: string; redisUrl: string; sides: AbSide[]; rounds: number; rate: number; seconds: number; connections: number }): Promise<AbResult> {
  const legacy = await startBackend('legacy', await freePort(), o.dir);
  const next = await startBackend('next', await freePort(), o.dir);
  const runs = new Map(o.sides.map((s) => [s.name, { cpu: [] as number[], p50: [] as number[], p99: [] as number[] }]));
  try {
    for (let round = 1; round <= o.rounds; round++) {
      for (const side of o.sides) {
        const gw = await startGateway(o.dir, {
          name: `gateway-ab-${o.sides.indexOf(side)}-${round}`, backends: { legacy: legacy.url, next: next.url }, redisUrl: o.redisUrl,
          keyPrefix: `bench-ab-${o.sides.indexOf(side)}-${round}-${Date.now().toString(36)}:`, rules: BENCH_RULES, logLevel: 'info', root: side.root,
        });
        try {
          const targets = { v1: gw.url, v2: gw.url };
          const tag = `ab${o.sides.indexOf(side)}r${round}`;
          await runPeak({ targets, connections: o.connections, seconds: 2, tag: `${tag}w` });
          const cpu0 = gw.child.cpuMs();
          const s = await runPaced({ targets, rate: o.rate, seconds: o.seconds, tag: `${tag}p` });
          const r = runs.get(side.name)!;
          r.cpu.push(Math.round(((gw.child.cpuMs() - cpu0) * 1000) / Math.max(1, s.requests)));
          r.p50.push(s.latencyMs.p50);
          r.p99.push(s.latencyMs.p99);
        } finally {
          await gw.child.stop();
        }
      }
    }
  } finally {
    await Promise.all([legacy.child.stop(), next.child.stop()]);
  }
  return {
    rate: o.rate, seconds: o.seconds, rounds: o.rounds,
    sides: o.sides.map((side) => {
      const r = runs.get(side.name)!;
      return { name: side.name, root: side.root, cpuUsPerRequest: r.cpu, medianCpuUs: median(r.cpu), medianP50Ms: median(r.p50), medianP99Ms: median(r.p99) };
    }),
  };
}
