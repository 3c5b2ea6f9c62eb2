/**
 * Record: the gateway's Prometheus metrics (SPEC 9), in a registry of its
 * own per gateway instance so that several instances can share a process.
 */
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** A circuit breaker's state, as the breaker gauge labels it (data/breakers.ts sets it). */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** Fine below 10 ms, where a tail is told apart from the median (issue 15), coarse above. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const GC_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
const GC_METRIC = 'nodejs_gc_duration_seconds';

export class Metrics {
  readonly registry = new Registry();
  readonly requests = this.#counter('cutover_requests_total',
    'Merchant requests answered, by chosen backend, API version, routing reason and status class',
    ['backend', 'api_version', 'reason', 'status_class']);
  readonly requestDuration = this.#histogram('cutover_request_duration_seconds',
    'Time from request start to the end of the answer, in seconds', ['api_version', 'backend'], LATENCY_BUCKETS);
  readonly upstreamDuration = this.#histogram('cutover_upstream_duration_seconds',
    'Time from forwarding to the backend answer head, in seconds', ['backend', 'status_class'], LATENCY_BUCKETS);
  readonly breakerState = this.#gauge('cutover_breaker_state',
    'Circuit breaker state per backend: 1 for the current state, 0 for the others', ['backend', 'state']);
  readonly pinOps = this.#counter('cutover_pin_operations_total',
    'Pin lookups and claims by outcome (hit = served from the local cache)', ['op', 'outcome']);
  readonly storeDuration = this.#histogram('cutover_store_duration_seconds',
    'Store round trips of the data path, in seconds, by command: claim (a request\'s order and idempotency-key pins, one call, before forwarding), release (of those claims after a refusal), pin (transaction id after the answer), lookup',
    ['command'], STORE_BUCKETS);
  readonly pinCacheEntries = this.#gauge('cutover_pin_cache_entries', 'Pins held in this instance\'s pin cache');
  readonly storeErrors = this.#counter('cutover_store_errors_total', 'Store commands that failed or timed out');
  readonly rulesVersion = this.#gauge('cutover_rules_version', 'Version of the ruleset this instance routes by');
  readonly splitShare = this.#gauge('cutover_split_effective_ratio',
    'Share of new transactions each backend received under a split rule over the recent window (0..1)', ['rule', 'backend']);
  readonly splitWeight = this.#gauge('cutover_split_configured_ratio',
    'Configured weight of each backend in a split rule (0..1)', ['rule', 'backend']);
  readonly canaryStep = this.#gauge('cutover_canary_step',
    'Index of the running canary step (-1 when no rollout runs)', ['rule', 'backend']);
  readonly canaryWeight = this.#gauge('cutover_canary_weight_ratio',
    'Weight of the canary target in its split rule (0..1)', ['rule', 'backend']);
  readonly canaryGate = this.#gauge('cutover_canary_gate_reading', 'Last gate readings of the canary step window', ['gate']);
  readonly drainLive = this.#gauge('cutover_drain_live_transactions',
    'Live transactions pinned to each backend (created, not expired, not handed over), from the store, all instances', ['backend']);
  readonly drainFollowUps = this.#gauge('cutover_drain_follow_ups',
    'Follow-ups routed to each backend over the last hour, day and week, all instances', ['backend', 'window']);
  readonly drainNew = this.#gauge('cutover_drain_new_transactions',
    'New transactions each backend received over the last hour and day, all instances', ['backend', 'window']);
  readonly drainVerdict = this.#gauge('cutover_drain_verdict',
    'Drain verdict per backend: 1 for the current one (serving, draining, idle), 0 for the others', ['backend', 'verdict']);
  readonly drainWarnings = this.#gauge('cutover_drain_warnings', 'Switch-off warnings of the drain report (a backend that must not be switched off yet)');

  #gcObserver?: PerformanceObserver;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      this.#gcObserver = this.#gcPauses();
    }
  }

  /** A counter in this instance's registry. */
  #counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  /** A gauge in this instance's registry. */
  #gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  /** A histogram in this instance's registry. */
  #histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
    return new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
  }

  /**
   * GC pauses by kind, under prom-client's usual name but counting every
   * pause: prom-client's own observer keeps only the first entry of each
   * batch the PerformanceObserver delivers, and its buckets start at 1 ms.
   */
  #gcPauses(): PerformanceObserver {
    this.registry.removeSingleMetric(GC_METRIC);
    const pauses = new Histogram({
      name: GC_METRIC, help: 'Garbage collection pauses by kind (major, minor, incremental, weakcb), in seconds',
      labelNames: ['kind'] as const, buckets: GC_BUCKETS, registers: [this.registry],
    });
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
        pauses.observe({ kind: GC_KINDS[e.detail?.kind ?? -1] ?? 'other' }, e.duration / 1000);
      }
    });
    observer.observe({ entryTypes: ['gc'] });
    return observer;
  }

  /** Stops observing GC pauses (an instance that shares its process with others). */
  stop(): void {
    this.#gcObserver?.disconnect();
  }

  /** The drain report's figures (read at scrape time, like the split view). */
  setDrain(report: DrainFigures): void {
    for (const [backend, d] of Object.entries(report.backends)) {
      this.drainLive.set({ backend }, d.livePins);
      for (const window of ['hour', 'day', 'week'] as const) this.drainFollowUps.set({ backend, window }, d.followUps[window]);
      for (const window of ['hour', 'day'] as const) this.drainNew.set({ backend, window }, d.newTransactions[window]);
      for (const v of ['serving', 'draining', 'idle'] as const) this.drainVerdict.set({ backend, verdict: v }, v === d.verdict ? 1 : 0);
    }
    this.drainWarnings.set(report.warnings.length);
  }

  setBreaker(backend: string, state: BreakerState): void {
    for (const s of ['closed', 'open', 'half_open'] as const) this.breakerState.set({ backend, state: s }, s === state ? 1 : 0);
  }
}

/** What the drain gauges read of a drain report (control/drain.ts). */
export interface DrainFigures {
  backends: Record<string, {
    livePins: number; verdict: string;
    followUps: { hour: number; day: number; week: number }; newTransactions: { hour: number; day: number };
  }>;
  warnings: readonly string[];
}

/** "2xx", "4xx"... for a status code. */
export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}
