/** A canary rollout document for the plan's unit tests, running at its first step. */
import { firstDoc, type CanaryDoc, type CanarySpec } from '../../gateway/control/canary-plan.ts';

export const T0 = Date.parse('2026-01-01T00:00:00Z');

/** A spec for rule `v1-canary` moving `next` through 10, 50, 100 % in 60 s steps; `over` replaces fields. */
export function spec(over: Partial<CanarySpec> = {}): CanarySpec {
  return {
    rule: 'v1-canary', backend: 'next', steps: [10, 50, 100], stepSeconds: 60,
    gates: { max5xxRatio: 0.01, maxP99Ms: 800, minRequests: 200 }, onFail: 'rollback', ...over,
  };
}

/** A running document for `spec`, started at T0 over a next 0 / legacy 100 split; `over` replaces fields. */
export function runningDoc(s: CanarySpec = spec(), over: Partial<CanaryDoc> = {}): CanaryDoc {
  return { ...firstDoc('rollout-1', s, [{ backend: 'next', weight: 0 }, { backend: 'legacy', weight: 100 }], 'ops', T0), ...over };
}
