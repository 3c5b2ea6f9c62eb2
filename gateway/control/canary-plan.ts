/**
 * Canary planning (SPEC 8), free of I/O: the rollout document, the split a
 * step asks for, the gate verdict over a step window, and the document that
 * follows a controller round or an operator's action. The controller in
 * `canary.ts` reads and writes the store; every decision it acts on is made here.
 */
import type { Rule, SplitEntry } from '../rules.ts';
import type { GateReadings } from './canary-stats.ts';

/** The rollout's lifecycle, as `GET /admin/canary` reports it. */
export type CanaryState = 'idle' | 'running' | 'paused' | 'completed' | 'rolled_back' | 'aborted';

/** The body of `PUT /admin/canary`, once it has passed the schema. */
export interface CanarySpec {
  rule: string; backend: string; steps: number[]; stepSeconds: number;
  gates: { max5xxRatio: number; maxP99Ms: number; minRequests: number };
  onFail: 'rollback' | 'pause'; comment?: string;
}

/** One line of the rollout's history. */
export interface CanaryEvent { time: string; action: string; step: number; weight: number; reason: string; actor: string }

/** The rollout as stored: one document, shared by every instance. */
export interface CanaryDoc {
  id: string; state: CanaryState; spec: CanarySpec; step: number; weight: number;
  stepStartedAt: number; startedBy: string; originalSplit: SplitEntry[];
  readings: GateReadings | null; holding: boolean;
  history: CanaryEvent[];
}

/** The gate decision for a step: keep measuring, hold for traffic, move on, or fail. */
export type Verdict = { kind: 'wait' | 'hold' | 'pass' | 'fail'; reason: string };

/** What the canary asks its rule's split to be: the target at a weight, or a whole split to put back. */
export interface WantedSplit { weight: number; split?: SplitEntry[] }

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

/** The split a canary document asks its rule to have: the target at a weight, or (aborted) the split from before the rollout. */
export function wanted(d: Pick<CanaryDoc, 'state' | 'weight' | 'spec' | 'originalSplit'>): WantedSplit | null {
  switch (d.state) {
    case 'running': case 'paused': return { weight: d.weight };
    case 'rolled_back': return { weight: 0 };
    case 'completed': return { weight: d.spec.steps.at(-1)! };
    case 'aborted': return { weight: 0, split: d.originalSplit };
    default: return null;
  }
}

/** Same backends in the same order with the same weights to two decimals. */
export function sameSplit(a: readonly SplitEntry[], b: readonly SplitEntry[]): boolean {
  return a.length === b.length && a.every((e, i) => e.backend === b[i].backend && Math.round(e.weight * 100) === Math.round(b[i].weight * 100));
}

/** Two `wanted` answers ask for the same split. */
export function sameWant(a: WantedSplit, b: WantedSplit): boolean {
  return a.weight === b.weight && (a.split && b.split ? sameSplit(a.split, b.split) : a.split === b.split);
}

/** The counter window of the document's current step: a new step or a resume measures afresh. */
export function windowOf(d: Pick<CanaryDoc, 'id' | 'step' | 'stepStartedAt'>): string {
  return `${d.id}:${d.step}:${d.stepStartedAt}`;
}

/** What the schema cannot say about a spec against its rule: the rule must split to the backend and another, steps must increase in at most two decimals. */
export function specProblems(spec: CanarySpec, rule: Rule): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  if (!rule.split) problems.push({ path: '/rule', message: `rule "${spec.rule}" has no split` });
  else if (!rule.split.some((e) => e.backend === spec.backend)) problems.push({ path: '/backend', message: `backend "${spec.backend}" is not in the split of "${spec.rule}"` });
  else if (rule.split.length < 2) problems.push({ path: '/rule', message: 'the split needs another backend to take the rest' });
  spec.steps.forEach((s, i) => {
    if (Math.round(s * 100) !== s * 100) problems.push({ path: `/steps/${i}`, message: 'at most two decimals' });
    if (i > 0 && s <= spec.steps[i - 1]) problems.push({ path: `/steps/${i}`, message: 'steps must increase' });
  });
  return problems;
}

/** The document of a rollout that starts now at its first step. */
export function firstDoc(id: string, spec: CanarySpec, split: SplitEntry[], actor: string, now: number): CanaryDoc {
  return {
    id, state: 'running', spec: { ...spec, onFail: spec.onFail ?? 'rollback' }, step: 0, weight: spec.steps[0],
    stepStartedAt: now, startedBy: actor, originalSplit: split, readings: null, holding: false,
    history: [{ time: new Date(now).toISOString(), action: 'start', step: 0, weight: spec.steps[0], reason: `started by ${actor}`, actor }],
  };
}

/** An operator's action on the rollout. */
export type CanaryAction = 'pause' | 'resume' | 'abort';

const ALLOWED: Record<CanaryAction, CanaryState[]> = { pause: ['running'], resume: ['paused'], abort: ['running', 'paused'] };

/** The document after `action` by `actor`, or null when the rollout's state does not allow it. */
export function applyAction(d: CanaryDoc, action: CanaryAction, actor: string, now: number): CanaryDoc | null {
  if (!ALLOWED[action].includes(d.state)) return null;
  const next: CanaryDoc = { ...d, state: action === 'pause' ? 'paused' : action === 'resume' ? 'running' : 'aborted' };
  // A resumed step measures a fresh window: the paused time's traffic does not count.
  if (action === 'resume') { next.stepStartedAt = now; next.holding = false; }
  next.history = [...d.history, { time: new Date(now).toISOString(), action, step: d.step, weight: d.weight, reason: `${action} by ${actor}`, actor }];
  return next;
}

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

/** One controller round's outcome: the document to store and, when the split must change, why (the ruleset comment). */
export interface RoundPlan { verdict: Verdict; next: CanaryDoc; writeSplit: string | null }

/**
 * The round for a running document with these readings: judge the step, then
 * record a hold once, fail by `onFail` (rollback to 0 % or pause at the weight),
 * complete after the last step, or move to the next step.
 */
export function planRound(d: CanaryDoc, readings: GateReadings, now: number): RoundPlan {
  const verdict = judge(d, readings, now);
  const next: CanaryDoc = { ...d, readings };
  const entry = (action: string, step: number, weight: number): CanaryEvent => ({ time: new Date(now).toISOString(), action, step, weight, reason: verdict.reason, actor: 'canary' });
  switch (verdict.kind) {
    case 'wait':
      return { verdict, next, writeSplit: null };
    case 'hold':
      if (!d.holding) next.history = [...d.history, entry('hold', d.step, d.weight)];
      next.holding = true;
      return { verdict, next, writeSplit: null };
    case 'fail': {
      const rollback = d.spec.onFail === 'rollback';
      next.state = rollback ? 'rolled_back' : 'paused';
      next.weight = rollback ? 0 : d.weight;
      next.history = [...d.history, entry(rollback ? 'rollback' : 'pause', d.step, next.weight)];
      return { verdict, next, writeSplit: rollback ? `rolled back: ${verdict.reason}` : null };
    }
    case 'pass': {
      next.holding = false;
      if (d.step === d.spec.steps.length - 1) {
        next.state = 'completed';
        next.history = [...d.history, entry('complete', d.step, d.weight)];
        return { verdict, next, writeSplit: null };
      }
      next.step = d.step + 1;
      next.weight = d.spec.steps[next.step];
      next.stepStartedAt = now;
      next.history = [...d.history, entry('step', next.step, next.weight)];
      return { verdict, next, writeSplit: `step ${next.step + 1} of ${d.spec.steps.length}: ${next.weight}%` };
    }
  }
}
