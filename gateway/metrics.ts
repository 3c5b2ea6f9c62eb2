/**
 * Record: the gateway's Prometheus metrics (SPEC 9), in a registry of its
 * own per gateway instance so that several instances can share a process.
 */
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BreakerState } from './breakers.ts';

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
  readonly requests = new Counter({
    name: 'cutover_requests_total', help: 'Merchant requests answered, by chosen backend, API version, routing reason and status class',
    labelNames: ['backend', 'api_version', 'reason', 'status_class'] as const, registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'cutover_request_duration_seconds', help: 'Time from request start to the end of the answer, in seconds',
    labelNames: ['api_version', 'backend'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry],
  });
  readonly upstreamDuration = new Histogram({
    name: 'cutover_upstream_duration_seconds', help: 'Time from forwarding to the backend answer head, in seconds',
    labelNames: ['backend', 'status_class'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry],
  });
  readonly breakerState = new Gauge({
    name: 'cutover_breaker_state', help: 'Circuit breaker state per backend: 1 for the current state, 0 for the others',
    labelNames: ['backend', 'state'] as const, registers: [this.registry],
  });
  readonly pinOps = new Counter({
    name: 'cutover_pin_operations_total', help: 'Pin lookups and claims by outcome (hit = served from the local cache)',
    labelNames: ['op', 'outcome'] as const, registers: [this.registry],
  });
  readonly storeDuration = new Histogram({
    name: 'cutover_store_duration_seconds',
    help: 'Store round trips of the data path, in seconds, by command: claim (order or idempotency-key pin before forwarding), pin (transaction id after the answer), lookup',
    labelNames: ['command'] as const, buckets: STORE_BUCKETS, registers: [this.registry],
  });
  readonly pinCacheEntries = new Gauge({
    name: 'cutover_pin_cache_entries', help: 'Pins held in this instance\'s pin cache', registers: [this.registry],
  });
  readonly storeErrors = new Counter({
    name: 'cutover_store_errors_total', help: 'Store commands that failed or timed out', registers: [this.registry],
  });
  readonly rulesVersion = new Gauge({
    name: 'cutover_rules_version', help: 'Version of the ruleset this instance routes by', registers: [this.registry],
  });
  readonly splitShare = new Gauge({
    name: 'cutover_split_effective_ratio', help: 'Share of new transactions each backend received under a split rule over the recent window (0..1)',
    labelNames: ['rule', 'backend'] as const, registers: [this.registry],
  });
  readonly splitWeight = new Gauge({
    name: 'cutover_split_configured_ratio', help: 'Configured weight of each backend in a split rule (0..1)',
    labelNames: ['rule', 'backend'] as const, registers: [this.registry],
  });
  readonly canaryStep = new Gauge({
    name: 'cutover_canary_step', help: 'Index of the running canary step (-1 when no rollout runs)', labelNames: ['rule', 'backend'] as const, registers: [this.registry],
  });
  readonly canaryWeight = new Gauge({
    name: 'cutover_canary_weight_ratio', help: 'Weight of the canary target in its split rule (0..1)', labelNames: ['rule', 'backend'] as const, registers: [this.registry],
  });
  readonly canaryGate = new Gauge({
    name: 'cutover_canary_gate_reading', help: 'Last gate readings of the canary step window', labelNames: ['gate'] as const, registers: [this.registry],
  });

  #gcObserver?: PerformanceObserver;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      this.#gcObserver = this.#gcPauses();
    }
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

  setBreaker(backend: string, state: BreakerState): void {
    for (const s of ['closed', 'open', 'half_open'] as const) this.breakerState.set({ backend, state: s }, s === state ? 1 : 0);
  }
}

/** "2xx", "4xx"... for a status code. */
export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}
