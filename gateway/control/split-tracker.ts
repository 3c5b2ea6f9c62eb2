/**
 * The effective split: for each split rule, the share of new transactions
 * each backend actually received over the last few minutes. Pins and
 * merchant flags make it drift from the configured weights. Counts from every
 * instance are summed in the store, one counter hash per minute.
 */
import { routeInput, type Decision, type RoutingState, type Subject } from '../data/decide.ts';
import type { Metrics } from '../metrics.ts';
import type { CompiledRules } from '../rules.ts';
import type { Store } from '../store/types.ts';

const WINDOW_MINUTES = 5;

/** Names of the split rules of each compiled ruleset, computed once per version (compiled rulesets are immutable). */
const splitNames = new WeakMap<CompiledRules, ReadonlySet<string>>();
function splitRulesOf(rules: CompiledRules): ReadonlySet<string> {
  let names = splitNames.get(rules);
  if (!names) {
    names = new Set(rules.ruleset.rules.filter((r) => r.split).map((r) => r.name));
    splitNames.set(rules, names);
  }
  return names;
}

export interface SplitView {
  rule: string;
  windowMinutes: number;
  total: number;
  backends: { backend: string; configuredWeight: number; effectiveShare: number | null; transactions: number }[];
}

export class SplitTracker {
  readonly #metrics: Metrics;
  readonly #state: () => RoutingState;
  readonly #store: Store;
  #pending = new Map<string, number>();
  #timer?: NodeJS.Timeout;

  constructor(metrics: Metrics, state: () => RoutingState, store: Store) {
    this.#metrics = metrics;
    this.#state = state;
    this.#store = store;
  }

  /** Counts a new transaction under the rule that would have decided it, in the rules (snapshot) that decided it. */
  record(d: Decision, s: Subject, rules: CompiledRules): void {
    // A rule's decision (rule:, failover:) names its rule; only a merchant flag needs the
    // matcher to say which rule it took the transaction from. 'default': no rule matched.
    const rule = d.rule ?? (d.reason === 'merchant-flag' ? rules.firstMatch(routeInput(s)) : undefined);
    if (rule === undefined || !splitRulesOf(rules).has(rule)) return;
    const key = `${rule}|${d.backend}`;
    this.#pending.set(key, (this.#pending.get(key) ?? 0) + 1);
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), 1000);
    this.#timer.unref();
  }

  stop(): void { clearInterval(this.#timer); }

  /** Sends this instance's counts to the store (kept locally if the store is down). */
  async flush(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = Object.fromEntries(this.#pending);
    this.#pending = new Map();
    try {
      await this.#store.addCounters(`split:${Math.floor(Date.now() / 60_000)}`, batch, (WINDOW_MINUTES + 1) * 60_000);
    } catch {
      for (const [k, v] of Object.entries(batch)) this.#pending.set(k, (this.#pending.get(k) ?? 0) + v);
    }
  }

  /** Configured weights beside the effective shares over the last WINDOW_MINUTES minutes, from all instances. */
  async view(): Promise<SplitView[]> {
    await this.flush();
    const minute = Math.floor(Date.now() / 60_000);
    const counts = new Map<string, number>();
    const windows = await Promise.all(Array.from({ length: WINDOW_MINUTES }, (_, i) => this.#store.readCounters(`split:${minute - i}`)));
    for (const w of windows) for (const [k, v] of Object.entries(w)) counts.set(k, (counts.get(k) ?? 0) + v);
    const out: SplitView[] = [];
    // From here to the end nothing awaits: the gauges are replaced as a whole, so a rule that is gone leaves no stale series.
    this.#metrics.splitShare.reset();
    this.#metrics.splitWeight.reset();
    for (const rule of this.#state().rules.ruleset.rules) {
      if (!rule.split) continue;
      const per = rule.split.map((e) => ({ backend: e.backend, configuredWeight: e.weight, transactions: counts.get(`${rule.name}|${e.backend}`) ?? 0 }));
      // Backends outside the split (flags, failover) show up too: that is the drift.
      for (const [k, v] of counts) {
        const [r, b] = k.split('|');
        if (r === rule.name && !per.some((p) => p.backend === b)) per.push({ backend: b, configuredWeight: 0, transactions: v });
      }
      const total = per.reduce((a, p) => a + p.transactions, 0);
      const backends = per.map((p) => ({ ...p, effectiveShare: total > 0 ? p.transactions / total : null }));
      for (const b of backends) {
        this.#metrics.splitWeight.set({ rule: rule.name, backend: b.backend }, b.configuredWeight / 100);
        if (b.effectiveShare !== null) this.#metrics.splitShare.set({ rule: rule.name, backend: b.backend }, b.effectiveShare);
      }
      out.push({ rule: rule.name, windowMinutes: WINDOW_MINUTES, total, backends });
    }
    return out;
  }
}
