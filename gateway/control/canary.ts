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

  /**
   * Writes the split that canary document `d` asks for (see `wanted`) as a
   * new ruleset version by actor `canary`. The ruleset is read first, then
   * the document is read again: the write goes ahead only if the document
   * still asks for this split, and it is a compare-and-set on the version
   * read. So a round that a later one superseded (an abort landing while a
   * step is being written) never lands after the later round's write: either
   * it lands first and is overwritten, or its compare-and-set fails and it
   * then sees the newer document. (The revision alone cannot tell: the lease
   * holder stores gate readings every round.) Answers whether it wrote.
   */
  async #setWeight(d: CanaryDoc, why: string, opts: { reconcile?: boolean } = {}): Promise<boolean> {
    const { spec } = d;
    const want = wanted(d);
    if (!want) return false;
    for (let attempt = 0; ; attempt++) {
      const current = await this.#admin.currentRules();
      const rule = current.ruleset.rules.find((r) => r.name === spec.rule);
      if (!rule?.split?.some((e) => e.backend === spec.backend)) {
        if (opts.reconcile) return false; // an operator reshaped the rule: it is theirs now
        throw new GatewayError('invalid_canary', { details: [{ path: '/rule', message: `no split rule "${spec.rule}" with backend "${spec.backend}"` }] });
      }
      const split = want.split ?? reweigh(rule.split, spec.backend, want.weight);
      // After a conflict the winner may have written this very split (the lease holder
      // reconciling): no second version then. A first attempt always writes: that write
      // is the fence that makes an older round's pending write fail its compare-and-set.
      if ((attempt > 0 || opts.reconcile) && sameSplit(rule.split, split)) return false;
      // Reconciling repairs only what the canary wrote itself; an operator's later change stands.
      if (opts.reconcile && current.updatedBy !== 'canary') return false;
      const latest = (await this.#store.getDoc<CanaryDoc>(DOC))?.value;
      const latestWants = latest?.id === d.id ? wanted(latest) : null;
      if (!latestWants || !sameWant(latestWants, want)) return false; // a later change to the canary owns the split
      const rules = current.ruleset.rules.map((r) => r.name !== spec.rule ? r : { ...r, split });
      try {
        await this.#admin.putRules({ ...current.ruleset, rules, comment: `canary: ${why}` }, 'canary', current.version);
        return true;
      } catch (err) {
        if (!(err instanceof GatewayError) || err.code !== 'version_conflict' || attempt >= 4) throw err;
      }
    }
  }

  /**
   * Lease holder only: when the rule's split is not what the canary document
   * asks for (a step, rollback or abort whose ruleset write failed or lost a
   * race), writes it again, as long as the canary wrote the current ruleset.
   */
  async #reconcile(d: CanaryDoc): Promise<void> {
    if (await this.#setWeight(d, `reconciled with the rollout (${d.state})`, { reconcile: true })) {
      this.#log.warn({ rule: d.spec.rule, backend: d.spec.backend, state: d.state }, 'the canary rule\'s split differed from the rollout state; written again');
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
    const rev = await this.#store.putDoc(DOC, doc, existing?.rev ?? 0);
    if (rev === null) throw new GatewayError('canary_conflict', { message: 'Another change to the canary raced this one; retry' });
    try {
      await this.#setWeight(doc, `step 1 of ${spec.steps.length}: ${doc.weight}%`);
    } catch (err) {
      // The first step never reached the rules: the rollout did not start. Record it as
      // aborted (so a retry is not refused as a conflict) and say why.
      const failed: CanaryDoc = { ...doc, state: 'aborted', history: [...doc.history, {
        time: new Date().toISOString(), action: 'abort', step: 0, weight: doc.weight, reason: `first step could not be written: ${(err as Error).message}`, actor: 'canary',
      }] };
      await this.#store.putDoc(DOC, failed, rev).catch(() => {});
      throw err;
    }
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
      if (action === 'abort') {
        await this.#setWeight(next, `aborted by ${actor}: split restored`).catch((err) => {
          if (err instanceof GatewayError && err.code !== 'store_unavailable') throw err;
          // Stored as aborted, split not yet restored: say so; the driving instance's next round restores it.
          throw new GatewayError('store_unavailable', { cause: err, message: `The canary is aborted, but the split could not be restored yet (${(err as Error).message}); the driving instance will restore it` });
        });
      }
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
      this.#stats.watch(d?.state === 'running' ? { backend: d.spec.backend, window: windowOf(d) } : null);
      if (!d) return;
      // The lease holder also keeps the rule's split in line with the document after the
      // rollout has stopped: a rollback's or abort's ruleset write may have failed.
      this.#driving = await this.#store.acquireLease(DOC, this.#owner, LEASE_MS);
      if (!this.#driving) return;
      await this.#reconcile(d);
      if (d.state !== 'running') return;
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
        if (rollback) await this.#setWeight(next, `rolled back: ${verdict.reason}`);
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
      await this.#setWeight(next, `step ${next.step + 1} of ${d.spec.steps.length}: ${next.weight}%`);
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

/** The split a canary document asks its rule to have: the target at a weight, or (aborted) the split from before the rollout. */
function wanted(d: CanaryDoc): { weight: number; split?: SplitEntry[] } | null {
  switch (d.state) {
    case 'running': case 'paused': return { weight: d.weight };
    case 'rolled_back': return { weight: 0 };
    case 'completed': return { weight: d.spec.steps.at(-1)! };
    case 'aborted': return { weight: 0, split: d.originalSplit };
    default: return null;
  }
}

function sameSplit(a: readonly SplitEntry[], b: readonly SplitEntry[]): boolean {
  return a.length === b.length && a.every((e, i) => e.backend === b[i].backend && Math.round(e.weight * 100) === Math.round(b[i].weight * 100));
}

function sameWant(a: NonNullable<ReturnType<typeof wanted>>, b: NonNullable<ReturnType<typeof wanted>>): boolean {
  return a.weight === b.weight && (a.split && b.split ? sameSplit(a.split, b.split) : a.split === b.split);
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
