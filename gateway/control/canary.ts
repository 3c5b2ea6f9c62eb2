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
import type { Rule, Ruleset } from '../rules.ts';
import type { Store } from '../store/types.ts';
import type { AdminService } from './admin-service.ts';
import {
  applyAction, firstDoc, planRound, reweigh, sameSplit, sameWant, specProblems, wanted, windowOf,
  type CanaryAction, type CanaryDoc, type CanarySpec,
} from './canary-plan.ts';
import type { CanaryStats } from './canary-stats.ts';

const DOC = 'canary';
const LEASE_MS = 3000;

/** Drives the rollout: starts it, applies operator actions, and on the lease holder judges each step and writes its split. */
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

  /** The rollout as `GET /admin/canary` answers it. */
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

  /** Checks the spec against its rule and starts the rollout at its first step (`PUT /admin/canary`). */
  async start(body: unknown, actor: string) {
    const problems = check('canary', body);
    if (problems.length > 0) throw new GatewayError('invalid_canary', { details: problems });
    const spec = body as CanarySpec;
    const { rule } = await this.#ruleOf(spec.rule);
    const semantic = specProblems(spec, rule);
    if (semantic.length > 0) throw new GatewayError('invalid_canary', { details: semantic });
    const existing = await this.#store.getDoc<CanaryDoc>(DOC);
    if (existing && (existing.value.state === 'running' || existing.value.state === 'paused')) {
      throw new GatewayError('canary_conflict', { message: `A rollout is ${existing.value.state} on rule "${existing.value.spec.rule}"; abort it first` });
    }
    const doc = firstDoc(randomUUID(), spec, rule.split!, actor, Date.now());
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
  async act(action: CanaryAction, actor: string) {
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await this.#store.getDoc<CanaryDoc>(DOC);
      const next = cur && applyAction(cur.value, action, actor, Date.now());
      if (!next) {
        throw new GatewayError('canary_conflict', { message: `Cannot ${action}: the canary is ${cur?.value.state ?? 'idle'}` });
      }
      const d = cur.value;
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
      const round = planRound(d, readings, Date.now());
      if ((await this.#store.putDoc(DOC, round.next, cur!.rev)) === null) return;
      if (round.writeSplit) await this.#setWeight(round.next, round.writeSplit);
      if (round.verdict.kind === 'fail') {
        this.#log.warn({ rule: d.spec.rule, backend: d.spec.backend, reason: round.verdict.reason, state: round.next.state }, 'canary gate failed');
      }
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
