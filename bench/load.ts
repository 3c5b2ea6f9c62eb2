/**
 * The two ways the benchmark drives the workload.
 *
 * Peak: autocannon, closed loop, a fixed number of keep-alive connections
 * (half running v1 sessions, half v2), as fast as the target answers.
 *
 * Paced: an open-loop pacer at a fixed request rate, evenly spaced, each
 * latency measured from the request's scheduled time (so a stalled target
 * cannot hide its queue: no coordinated omission). autocannon's own rate
 * limit sends each connection's quota for the second in one burst at the
 * start of the second, and its latency correction uses 1/rate rounded up to
 * 1 ms, so it is not used for this phase.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { RawClient } from './raw-client.ts';
import { Recorder, type RunStats } from './stats.ts';
import { sessionMaker, STEPS, type ApiVersion, type Session, type Step } from './workload.ts';

/** Where each API version's requests go (a proxy serves both; the backends directly serve one each). */
export type Targets = Record<ApiVersion, string>;

export interface PeakOptions { targets: Targets; connections: number; seconds: number; tag: string }

function autocannonRequests(steps: Step[], rec: Recorder, newSession: () => Session) {
  return steps.map((step, i) => ({
    setupRequest(req: Record<string, any>, context: Record<string, any>) {
      if (i === 0 || !context.session) context.session = newSession();
      return { ...req, ...step.build(context.session as Session) };
    },
    onResponse(status: number, body: string, context: Record<string, any>) {
      rec.answer(step.name, status, step.followUp);
      step.onAnswer?.(context.session as Session, status, body);
    },
  }));
}

/** Closed-loop peak: autocannon with `connections` connections for `seconds`. */
export async function runPeak(o: PeakOptions): Promise<RunStats> {
  const rec = new Recorder();
  const half = Math.max(1, Math.floor(o.connections / 2));
  const started = performance.now();
  const runs = (['v1', 'v2'] as const).map((v, lane) => {
    const instance = autocannon({
      url: o.targets[v], connections: half, duration: o.seconds, timeout: 10,
      requests: autocannonRequests(STEPS[v], rec, sessionMaker(`${o.tag}${v}`, lane)),
    });
    instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => rec.latency(ms));
    instance.on('reqError', () => rec.error(`${v} transport`));
    return Promise.resolve(instance);
  });
  await Promise.all(runs);
  return rec.stats((performance.now() - started) / 1000);
}

export interface PacedOptions {
  targets: Targets; rate: number; seconds: number; tag: string;
  /**
   * Seconds at the same rate before the measured ones, on the same connections,
   * whose latencies are not kept (their answers are still checked). Without it
   * the first second measures the client opening its connections and the
   * target's reaction to the change from the peak phase, not the paced rate.
   */
  warmupSeconds?: number;
}

interface Flow { version: ApiVersion; steps: Step[]; i: number; session: Session; client: RawClient; newSession: () => Session }

/**
 * Open loop at `rate` requests/s for `seconds`. Sessions wait in a queue
 * with their next step ready; the requests that are due go to v1 and v2 in
 * turn, each taking the oldest ready session of its version or opening one.
 * When more than half a second of requests is waiting for answers, the
 * target cannot keep up: the run stops sending and says when. The warm-up
 * (`warmupSeconds`) runs seamlessly into the measured seconds.
 */
export async function runPaced(o: PacedOptions): Promise<RunStats> {
  const rec = new Recorder();
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  const maxInFlight = Math.max(64, Math.round(o.rate / 2));
  let saturatedAt: number | undefined;
  const clients = new Map<string, RawClient>();
  const clientFor = (base: string) => clients.get(base) ?? clients.set(base, new RawClient(base)).get(base)!;
  const makers = { v1: sessionMaker(`${o.tag}v1`, 0), v2: sessionMaker(`${o.tag}v2`, 1) };
  const ready: Record<ApiVersion, Flow[]> = { v1: [], v2: [] };
  const open = (v: ApiVersion): Flow => {
    return { version: v, steps: STEPS[v], i: 0, session: makers[v](), client: clientFor(o.targets[v]), newSession: makers[v] };
  };
  const warmup = Math.round(o.rate * (o.warmupSeconds ?? 0));
  const total = warmup + Math.max(1, Math.round(o.rate * o.seconds));
  const interval = 1000 / o.rate;
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();

  const fire = (flow: Flow, due: number, measured: boolean) => {
    const step = flow.steps[flow.i];
    const call = step.build(flow.session);
    const p = flow.client.request(call.method, call.path, call.headers, call.body).then(
      ({ status, body }) => {
        if (measured) rec.stepLatency(step.name, performance.now() - due);
        rec.answer(step.name, status, step.followUp);
        step.onAnswer?.(flow.session, status, body);
      },
      () => rec.error(step.name),
    ).then(() => {
      flow.i += 1;
      if (flow.i === flow.steps.length) { flow.i = 0; flow.session = flow.newSession(); }
      ready[flow.version].push(flow);
      inFlight.delete(p);
    });
    inFlight.add(p);
  };

  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + sent * interval <= now) {
        if (inFlight.size >= maxInFlight) { saturatedAt = Math.max(0, Math.round(now - start - warmup * interval) / 1000); break; }
        if (sent === warmup) lag.reset();
        const v: ApiVersion = sent % 2 === 0 ? 'v1' : 'v2';
        fire(ready[v].shift() ?? open(v), start + sent * interval, sent >= warmup);
        sent += 1;
      }
      if (sent < total && saturatedAt === undefined) setTimeout(tick, 1); else resolve();
    };
    tick();
  });
  await Promise.all(inFlight);
  lag.disable();
  for (const c of clients.values()) c.close();
  const stats = rec.stats(saturatedAt !== undefined ? Math.max(saturatedAt, 0.001) : o.seconds);
  const ms = (ns: number) => Math.round(ns / 1e4) / 100;
  return { ...stats, loaderLagMs: { p99: ms(lag.percentile(99)), max: ms(lag.max) }, ...(saturatedAt !== undefined ? { saturatedAt } : {}) };
}
