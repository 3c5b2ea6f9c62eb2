/**
 * Canary measurements: every instance counts the target backend's answers
 * (requests, 5xx, latency buckets) and adds them to a counter hash in the
 * store per rollout step, so gates read the traffic of all instances.
 */
import type { Store } from '../store/types.ts';
import { addCounts, BatchedCounters } from './batched-counters.ts';

/** Latency bucket upper bounds in ms; p99 is read as the bound of the bucket holding it (conservative). */
export const LATENCY_BOUNDS_MS = [5, 10, 25, 50, 100, 250, 500, 800, 1000, 2500, 5000, 10000, Infinity];

export interface GateReadings { requests: number; ratio5xx: number | null; p99Ms: number | null }

export class CanaryStats extends BatchedCounters {
  readonly #store: Store;
  #target: { backend: string; window: string } | null = null;
  #pending: Record<string, number> = {};

  constructor(store: Store) { super(250); this.#store = store; }

  /** Which backend to watch and the counter window (one per rollout step). */
  watch(target: { backend: string; window: string } | null): void {
    if (this.#target?.window !== target?.window) { void this.flush(); }
    this.#target = target;
  }

  /** Called by the data plane for every answered request. */
  observe(backend: string, status: number, seconds: number): void {
    if (!this.#target || this.#target.backend !== backend) return;
    const ms = seconds * 1000;
    const i = LATENCY_BOUNDS_MS.findIndex((b) => ms <= b);
    const p = this.#pending;
    p.n = (p.n ?? 0) + 1;
    if (status >= 500) p.e5xx = (p.e5xx ?? 0) + 1;
    p[`b${i}`] = (p[`b${i}`] ?? 0) + 1;
  }

  async flush(): Promise<void> {
    const target = this.#target;
    if (!target || Object.keys(this.#pending).length === 0) return;
    const batch = this.#pending;
    this.#pending = {};
    try {
      await this.#store.addCounters(`canary:${target.window}`, batch, 24 * 3600_000);
    } catch {
      addCounts(this.#pending, batch);
    }
  }

  /** Gate readings of one window, summed over all instances. */
  async read(window: string): Promise<GateReadings> {
    const c = await this.#store.readCounters(`canary:${window}`);
    const n = c.n ?? 0;
    if (n === 0) return { requests: 0, ratio5xx: null, p99Ms: null };
    const rank = Math.ceil(n * 0.99);
    let seen = 0;
    let p99Ms: number | null = null;
    for (let i = 0; i < LATENCY_BOUNDS_MS.length; i++) {
      seen += c[`b${i}`] ?? 0;
      if (seen >= rank) { p99Ms = LATENCY_BOUNDS_MS[i]; break; }
    }
    return { requests: n, ratio5xx: (c.e5xx ?? 0) / n, p99Ms };
  }
}
