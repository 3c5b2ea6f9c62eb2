/**
 * Rule propagation: two gateway instances on one Redis; a ruleset change is
 * PUT through instance A, and instance B's data plane is asked (one request
 * at a time) until it routes by the new version. The delay is from the PUT's
 * answer to B's first answer showing the new version and backend; its
 * resolution is one request round trip to B.
 */
import { performance } from 'node:perf_hooks';
import { BENCH_RULES } from './columns.ts';
import { ADMIN_TOKEN, freePort, startBackend, startGateway } from './procs.ts';

export interface Propagation {
  changes: number;
  medianMs: number;
  p90Ms: number;
  maxMs: number;
  /** Changes that B had not picked up within the time limit. */
  timeouts: number;
  /** How long the PUT itself took (validation, store write, audit, publish, local apply). */
  putMedianMs: number;
  /** One probe round trip to B: the resolution of the delay. */
  probeMedianMs: number;
  /** Changes B already routed by when the first probe after the PUT's answer reached it. */
  seenAtFirstProbe: number;
}

const median = (xs: number[]) => percentile(xs, 0.5);
function percentile(xs: number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] * 100) / 100;
}

function rulesWithProbe(backend: 'legacy' | 'next') {
  return { ...BENCH_RULES, rules: [{ name: 'probe', match: { pathPrefix: '/api/v1/echo' }, backend }, ...BENCH_RULES.rules] };
}

export async function measurePropagation(o: { dir: string; redisUrl: string; changes: number; timeoutMs?: number }): Promise<Propagation> {
  const legacy = await startBackend('legacy', await freePort(), o.dir);
  const next = await startBackend('next', await freePort(), o.dir);
  const keyPrefix = `bench-prop-${Date.now().toString(36)}:`;
  const common = { backends: { legacy: legacy.url, next: next.url }, redisUrl: o.redisUrl, keyPrefix, rules: rulesWithProbe('legacy'), logLevel: 'warn' };
  const a = await startGateway(o.dir, { name: 'gateway-prop-a', ...common });
  const b = await startGateway(o.dir, { name: 'gateway-prop-b', ...common });
  const delays: number[] = [];
  const puts: number[] = [];
  const probes: number[] = [];
  let timeouts = 0;
  let seenAtFirstProbe = 0;
  try {
    const probe = async () => {
      const t = performance.now();
      const r = await fetch(`${b.url}/api/v1/echo`, { headers: { 'x-merchant-id': 'M-PROBE' } });
      await r.arrayBuffer();
      probes.push(performance.now() - t);
      return { version: Number(r.headers.get('x-cutover-rules-version')), backend: r.headers.get('x-cutover-backend') };
    };
    await probe();
    for (let i = 0; i < o.changes; i++) {
      const backend = i % 2 === 0 ? 'next' : 'legacy';
      const t0 = performance.now();
      const put = await fetch(`${a.adminUrl}/admin/rules`, {
        method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...rulesWithProbe(backend), comment: `propagation probe ${i}` }),
      });
      const { version } = await put.json() as { version: number };
      if (!put.ok) throw new Error(`PUT /admin/rules answered ${put.status}`);
      const answered = performance.now();
      puts.push(answered - t0);
      const limit = answered + (o.timeoutMs ?? 5000);
      for (let tries = 1; ; tries++) {
        const seen = await probe();
        if (seen.version >= version && seen.backend === backend) {
          delays.push(performance.now() - answered);
          if (tries === 1) seenAtFirstProbe += 1;
          break;
        }
        if (performance.now() > limit) { timeouts += 1; break; }
      }
    }
  } finally {
    await Promise.all([a.child.stop(), b.child.stop(), legacy.child.stop(), next.child.stop()]);
  }
  return {
    changes: o.changes, medianMs: median(delays), p90Ms: percentile(delays, 0.9), maxMs: percentile(delays, 1),
    timeouts, putMedianMs: median(puts), probeMedianMs: median(probes), seenAtFirstProbe,
  };
}
