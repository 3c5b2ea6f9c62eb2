/**
 * Record: the gateway's Prometheus metrics (SPEC 9), in a registry of its
 * own per gateway instance so that several instances can share a process.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** A circuit breaker's state, as the breaker gauge labels it (data/breakers.ts sets it). */
export type BreakerState = 'closed' | 'open' | 'half_open';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

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

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  setBreaker(backend: string, state: BreakerState): void {
    for (const s of ['closed', 'open', 'half_open'] as const) this.breakerState.set({ backend, state: s }, s === state ? 1 : 0);
  }
}

/** "2xx", "4xx"... for a status code. */
export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}
