/**
 * Canary rollouts (SPEC 8): a split rule's target weight walks through the
 * steps, each written as a new ruleset version by actor `canary`. A step
 * passes when its window has at least `minRequests` answers from the target
 * backend (all instances) and every gate holds; a failed gate rolls back to
 * 0 % or pauses. One instance drives at a time, through a lease in the store.
 */
import { randomUUID } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { check } from '../schemas.ts';
import type { Rule, Ruleset, SplitEntry } from '../rules.ts';
import type { Store } from '../store/types.ts';
import type { AdminService } from './admin-service.ts';
import type { CanaryStats, GateReadings } from './canary-stats.ts';

export type CanaryState = 'idle' | 'running' | 'paused' | 'completed' | 'rolled_back' | 'aborted';

export interface CanarySpec {
  rule: string; backend: string; steps: number[]; stepSeconds: number;
  gates: { max5xxRatio: number; maxP99Ms: number; minRequests: number };
  onFail: 'rollback' | 'pause'; comment?: string;
}

interface CanaryDoc {
  id: string; state: CanaryState; spec: CanarySpec; step: number; weight: number;
  stepStartedAt: number; startedBy: string; originalSplit: SplitEntry[];
  readings: GateReadings | null; holding: boolean;
  history: { time: string; action: string; step: number; weight: number; reason: string; actor: string }[];
}

const DOC = 'canary';
const LEASE_MS = 3000;

/** The rule's split with the target at `weight` and the others sharing the rest in their current proportions. */
export function reweigh(split: SplitEntry[], target: string, weight: number): SplitEntry[] {
  const others = split.filter((e) => e.backend !== target);
  const otherSum = others.reduce((a, e) => a + e.weight, 0);
  let left = Math.round((100 - weight) * 100);
  const out = split.map((e) => ({ ...e }));
  const rest = out.filter((e) => e.backend !== target);
  rest.forEach((e, i) => {
    const share = i === rest.length - 1 ? left : Math.round((otherSum > 0 ? e.weight / otherSum : 1 / rest.length) * (100 - weight) * 100);
    e.weight = share / 100;
    left -= share;
  });
  out.find((e) => e.backend === target)!.weight = weight;
  return out;
}

export class CanaryController {
  readonly #store: Store;
  readonly #admin: AdminService;
  readonly #stats: CanaryStats;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly #owner = randomUUID();
  readonly #tickMs: number;
  #timer?: NodeJS.Timeout;
  #ticking = false;
  #driving = false;

  constructor(deps: { store: Store; admin: AdminService; stats: CanaryStats; metrics: Metrics; log: Logger; tickMs?: number }) {
    this.#store = deps.store;
    this.#admin = deps.admin;
    this.#stats = deps.stats;
    this.#metrics = deps.metrics;
    this.#log = deps.log;
    this.#tickMs = deps.tickMs ?? 500;
  }

  /** Starts the controller rounds on this instance. */
  run(): void {
    this.#timer = setInterval(() => void this.tick(), this.#tickMs);
    this.#timer.unref();
  }

  /**
   * Stops driving. By default gives the lease up so that another instance
   * takes over at once; `releaseLease: false` leaves it to expire, as a crash would.
   */
  async stop(opts: { releaseLease?: boolean } = {}): Promise<void> {
    clearInterval(this.#timer);
    if (opts.releaseLease ?? true) await this.#store.releaseLease(DOC, this.#owner).catch(() => {});
  }

  /** True when this instance held the rollout lease at its last round. */
  get driving(): boolean { return this.#driving; }

  async status() {
    const d = (await this.#store.getDoc<CanaryDoc>(DOC))?.value;
    if (!d) return { state: 'idle' as const, rule: null, backend: null, step: null, weight: null, readings: null, history: [] };
    return {
      state: d.state, rule: d.spec.rule, backend: d.spec.backend, step: d.step, steps: d.spec.steps, weight: d.weight,
      stepSeconds: d.spec.stepSeconds, stepStartedAt: new Date(d.stepStartedAt).toISOString(), gates: d.spec.gates, onFail: d.spec.onFail,
      readings: d.readings, holding: d.holding, startedBy: d.startedBy, history: d.history,
    };
  }

  async #ruleOf(name: string): Promise<{ ruleset: Ruleset; rule: Rule; version: number }> {
    const current = await this.#admin.currentRules();
    const rule = current.ruleset.rules.find((r) => r.name === name);
    if (!rule) throw new GatewayError('invalid_canary', { details: [{ path: '/rule', message: `no rule named "${name}"` }] });
    return { ruleset: current.ruleset, rule, version: current.version };
  }

  /** Writes the target weight as a new ruleset version (actor `canary`). */
  async #setWeight(spec: CanarySpec, weight: number, why: string, split?: SplitEntry[]): Promise<void> {
    // Compare-and-set on the version read, so an operator's change made meanwhile is never overwritten.
    for (let attempt = 0; ; attempt++) {
      const { ruleset, version } = await this.#ruleOf(spec.rule);
      const rules = ruleset.rules.map((r) => r.name !== spec.rule ? r : { ...r, split: split ?? reweigh(r.split!, spec.backend, weight) });
      try {
        await this.#admin.putRules({ ...ruleset, rules, comment: `canary: ${why}` }, 'canary', version);
        return;
      } catch (err) {
        if (!(err instanceof GatewayError) || err.code !== 'version_conflict' || attempt >= 4) throw err;
      }
    }
  }

  async start(body: unknown, actor: string) {
    const problems = check('canary', body);
    if (problems.length > 0) throw new GatewayError('invalid_canary', { details: problems });
    const spec = body as CanarySpec;
    const { rule } = await this.#ruleOf(spec.rule);
    const semantic: { path: string; message: string }[] = [];
    if (!rule.split) semantic.push({ path: '/rule', message: `rule "${spec.rule}" has no split` });
    else if (!rule.split.some((e) => e.backend === spec.backend)) semantic.push({ path: '/backend', message: `backend "${spec.backend}" is not in the split of "${spec.rule}"` });
    else if (rule.split.length < 2) semantic.push({ path: '/rule', message: 'the split needs another backend to take the rest' });
    spec.steps.forEach((s, i) => {
      if (Math.round(s * 100) !== s * 100) semantic.push({ path: `/steps/${i}`, message: 'at most two decimals' });
      if (i > 0 && s <= spec.steps[i - 1]) semantic.push({ path: `/steps/${i}`, message: 'steps must increase' });
    });
    if (semantic.length > 0) throw new GatewayError('invalid_canary', { details: semantic });
    const existing = await this.#store.getDoc<CanaryDoc>(DOC);
    if (existing && (existing.value.state === 'running' || existing.value.state === 'paused')) {
      throw new GatewayError('canary_conflict', { message: `A rollout is ${existing.value.state} on rule "${existing.value.spec.rule}"; abort it first` });
    }
    const doc: CanaryDoc = {
      id: randomUUID(), state: 'running', spec: { ...spec, onFail: spec.onFail ?? 'rollback' }, step: 0, weight: spec.steps[0],
      stepStartedAt: Date.now(), startedBy: actor, originalSplit: rule.split!, readings: null, holding: false,
      history: [{ time: new Date().toISOString(), action: 'start', step: 0, weight: spec.steps[0], reason: `started by ${actor}`, actor }],
    };
    if ((await this.#store.putDoc(DOC, doc, existing?.rev ?? 0)) === null) throw new GatewayError('canary_conflict', { message: 'Another change to the canary raced this one; retry' });
    await this.#setWeight(doc.spec, doc.weight, `step 1 of ${spec.steps.length}: ${doc.weight}%`);
    this.#stats.watch({ backend: spec.backend, window: windowOf(doc) });
    return this.status();
  }

  /** pause / resume / abort, from any instance. */
  async act(action: 'pause' | 'resume' | 'abort', actor: string) {
    const allowed: Record<typeof action, CanaryState[]> = { pause: ['running'], resume: ['paused'], abort: ['running', 'paused'] };
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await this.#store.getDoc<CanaryDoc>(DOC);
      if (!cur || !allowed[action].includes(cur.value.state)) {
        throw new GatewayError('canary_conflict', { message: `Cannot ${action}: the canary is ${cur?.value.state ?? 'idle'}` });
      }
      const d = cur.value;
      const next: CanaryDoc = { ...d, state: action === 'pause' ? 'paused' : action === 'resume' ? 'running' : 'aborted' };
      if (action === 'resume') { next.step = d.step; next.stepStartedAt = Date.now(); next.holding = false; }
      next.history = [...d.history, { time: new Date().toISOString(), action, step: d.step, weight: d.weight, reason: `${action} by ${actor}`, actor }];
      if ((await this.#store.putDoc(DOC, next, cur.rev)) === null) continue;
      if (action === 'abort') await this.#setWeight(d.spec, 0, `aborted by ${actor}: split restored`, d.originalSplit);
      if (action === 'resume') this.#stats.watch({ backend: d.spec.backend, window: windowOf(next) });
      return this.status();
    }
    throw new GatewayError('canary_conflict', { message: 'The canary kept changing; retry' });
  }

  /** One controller round: hold the lease, then judge the running step. */
  async tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      const cur = await this.#store.getDoc<CanaryDoc>(DOC);
      const d = cur?.value;
      this.#publishMetrics(d);
      if (!d || d.state !== 'running') { this.#stats.watch(null); return; }
      this.#stats.watch({ backend: d.spec.backend, window: windowOf(d) });
      this.#driving = await this.#store.acquireLease(DOC, this.#owner, LEASE_MS);
      if (!this.#driving) return;
      await this.#stats.flush();
      const readings = await this.#stats.read(windowOf(d));
      const verdict = judge(d, readings, Date.now());
      const next: CanaryDoc = { ...d, readings };
      if (verdict.kind === 'wait') { await this.#store.putDoc(DOC, next, cur!.rev); return; }
      const entry = (action: string, weight: number, reason: string) => ({ time: new Date().toISOString(), action, step: next.step, weight, reason, actor: 'canary' });
      if (verdict.kind === 'hold') {
        if (!d.holding) next.history = [...d.history, entry('hold', d.weight, verdict.reason)];
        next.holding = true;
        await this.#store.putDoc(DOC, next, cur!.rev);
        return;
      }
      if (verdict.kind === 'fail') {
        const rollback = d.spec.onFail === 'rollback';
        next.state = rollback ? 'rolled_back' : 'paused';
        next.weight = rollback ? 0 : d.weight;
        next.history = [...d.history, entry(rollback ? 'rollback' : 'pause', next.weight, verdict.reason)];
        if ((await this.#store.putDoc(DOC, next, cur!.rev)) === null) return;
        if (rollback) await this.#setWeight(d.spec, 0, `rolled back: ${verdict.reason}`);
        this.#log.warn({ rule: d.spec.rule, backend: d.spec.backend, reason: verdict.reason, state: next.state }, 'canary gate failed');
        return;
      }
      const last = d.step === d.spec.steps.length - 1;
      next.holding = false;
      if (last) {
        next.state = 'completed';
        next.history = [...d.history, entry('complete', d.weight, verdict.reason)];
        await this.#store.putDoc(DOC, next, cur!.rev);
        return;
      }
      next.step = d.step + 1;
      next.weight = d.spec.steps[next.step];
      next.stepStartedAt = Date.now();
      next.history = [...d.history, { ...entry('step', next.weight, verdict.reason), step: next.step }];
      if ((await this.#store.putDoc(DOC, next, cur!.rev)) === null) return;
      await this.#setWeight(d.spec, next.weight, `step ${next.step + 1} of ${d.spec.steps.length}: ${next.weight}%`);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'canary controller round failed');
    } finally {
      this.#ticking = false;
    }
  }

  #publishMetrics(d: CanaryDoc | undefined): void {
    this.#metrics.canaryStep.reset();
    this.#metrics.canaryWeight.reset();
    if (!d) return;
    const labels = { rule: d.spec.rule, backend: d.spec.backend };
    this.#metrics.canaryStep.set(labels, d.state === 'running' || d.state === 'paused' ? d.step : -1);
    this.#metrics.canaryWeight.set(labels, d.weight / 100);
    if (d.readings) {
      this.#metrics.canaryGate.set({ gate: 'requests' }, d.readings.requests);
      if (d.readings.ratio5xx !== null) this.#metrics.canaryGate.set({ gate: 'ratio_5xx' }, d.readings.ratio5xx);
      if (d.readings.p99Ms !== null && Number.isFinite(d.readings.p99Ms)) this.#metrics.canaryGate.set({ gate: 'p99_seconds' }, d.readings.p99Ms / 1000);
    }
  }
}

function windowOf(d: CanaryDoc): string {
  return `${d.id}:${d.step}:${d.stepStartedAt}`;
}

type Verdict = { kind: 'wait' | 'hold' | 'pass' | 'fail'; reason: string };

/** The gate decision for the running step. A gate failure counts at once; a pass waits for the window's end. */
export function judge(d: Pick<CanaryDoc, 'spec' | 'stepStartedAt'>, r: GateReadings, now: number): Verdict {
  const { gates } = d.spec;
  const enough = r.requests >= gates.minRequests && r.requests > 0;
  if (enough && r.ratio5xx !== null && r.ratio5xx > gates.max5xxRatio) {
    return { kind: 'fail', reason: `5xx ratio ${r.ratio5xx.toFixed(4)} over ${gates.max5xxRatio} (${r.requests} requests)` };
  }
  if (enough && r.p99Ms !== null && r.p99Ms > gates.maxP99Ms) {
    return { kind: 'fail', reason: `p99 ${Number.isFinite(r.p99Ms) ? `${r.p99Ms} ms` : 'over 10 s'} over ${gates.maxP99Ms} ms (${r.requests} requests)` };
  }
  if (now < d.stepStartedAt + d.spec.stepSeconds * 1000) return { kind: 'wait', reason: 'step window running' };
  if (!enough) return { kind: 'hold', reason: `only ${r.requests} of ${gates.minRequests} requests in the step window; holding` };
  return { kind: 'pass', reason: `gates held over ${r.requests} requests (5xx ratio ${r.ratio5xx?.toFixed(4)}, p99 <= ${r.p99Ms} ms)` };
}
