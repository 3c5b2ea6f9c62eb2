/**
 * Live traffic per backend for the ops console: every instance counts its
 * answers (requests, 5xx, latency buckets) per 10-second slot and adds them
 * to a counter hash in the store, so that a reading covers all instances.
 * The console shows the last 15 minutes (issue 17).
 */
import type { Store } from '../store/types.ts';
import { LATENCY_BOUNDS_MS } from './canary-stats.ts';
import { addCounts, BatchedCounters, type Counts } from './batched-counters.ts';

export const SLOT_SECONDS = 10;
export const WINDOW_SECONDS = 15 * 60;
const SLOTS = WINDOW_SECONDS / SLOT_SECONDS;

/** One backend's figures over the window. */
export interface BackendTraffic {
  backend: string;
  requests: number;
  /** Mean requests per second over the window. */
  rps: number;
  /** Requests per second over the last full minute. */
  rpsLastMinute: number;
  /** Share of answers with a 5xx status (the gateway's own 502/503/504 included); null without requests. */
  errorRatio: number | null;
  /** Upper bound of the latency bucket holding the 99th percentile, in ms; null without requests. */
  p99Ms: number | null;
}

export interface TrafficReading {
  windowSeconds: number;
  slotSeconds: number;
  backends: BackendTraffic[];
  /** Per slot, oldest first: slot start (unix seconds) and requests per second per backend. */
  series: { time: number[]; rps: Record<string, number[]>; errorRatio: Record<string, (number | null)[]> };
}

/** The p99 read from cumulative latency buckets, as the bound of the bucket holding it (conservative). */
function p99Of(c: Counts, backend: string, n: number): number | null {
  if (n === 0) return null;
  const rank = Math.ceil(n * 0.99);
  let seen = 0;
  for (let i = 0; i < LATENCY_BOUNDS_MS.length; i++) {
    seen += c[`${backend}|b${i}`] ?? 0;
    if (seen >= rank) return Number.isFinite(LATENCY_BOUNDS_MS[i]) ? LATENCY_BOUNDS_MS[i] : null;
  }
  return null;
}

export class TrafficStats extends BatchedCounters {
  readonly #store: Store;
  readonly #backends: readonly string[];
  readonly #now: () => number;
  /** Counts not yet in the store, by slot number, so a late flush lands in the right slot. */
  #pending = new Map<number, Counts>();
  #cached: { at: number; reading: Promise<TrafficReading> } | null = null;

  constructor(store: Store, backends: readonly string[], now: () => number = Date.now) {
    super(1000);
    this.#store = store;
    this.#backends = backends;
    this.#now = now;
  }

  /** Called by the data plane for every answer with a chosen backend. */
  observe(backend: string, status: number, seconds: number): void {
    const slot = Math.floor(this.#now() / 1000 / SLOT_SECONDS);
    let c = this.#pending.get(slot);
    if (!c) { c = {}; this.#pending.set(slot, c); }
    const i = LATENCY_BOUNDS_MS.findIndex((b) => seconds * 1000 <= b);
    const add = (k: string) => { c[k] = (c[k] ?? 0) + 1; };
    add(`${backend}|n`);
    if (status >= 500) add(`${backend}|e`);
    add(`${backend}|b${i}`);
  }

  /** Adds this instance's counts to the store; kept for the next try when the store is down. */
  async flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = new Map();
    const oldest = Math.floor(this.#now() / 1000 / SLOT_SECONDS) - SLOTS;
    await Promise.all([...batch].map(async ([slot, counts]) => {
      try {
        await this.#store.addCounters(`traffic:${slot}`, counts, (WINDOW_SECONDS + 60) * 1000);
      } catch {
        if (slot <= oldest) return; // outside the window by now: not worth keeping
        this.#pending.set(slot, addCounts(this.#pending.get(slot) ?? {}, counts));
      }
    }));
  }

  /** The last 15 minutes from every instance; readings within a second share one store read. */
  read(): Promise<TrafficReading> {
    const now = this.#now();
    if (this.#cached && now - this.#cached.at < 1000) return this.#cached.reading;
    const reading = this.#read(now);
    this.#cached = { at: now, reading };
    reading.catch(() => { if (this.#cached?.reading === reading) this.#cached = null; });
    return reading;
  }

  async #read(now: number): Promise<TrafficReading> {
    await this.flush();
    const current = Math.floor(now / 1000 / SLOT_SECONDS);
    // The current slot is still filling: the window is the SLOTS slots before it, plus it.
    const slots = Array.from({ length: SLOTS + 1 }, (_, i) => current - SLOTS + i);
    const counts = await Promise.all(slots.map((s) => this.#store.readCounters(`traffic:${s}`)));
    const total: Counts = {};
    for (const c of counts) addCounts(total, c);
    const elapsedInCurrent = Math.max(1, now / 1000 - current * SLOT_SECONDS);
    const seconds = SLOTS * SLOT_SECONDS + elapsedInCurrent;
    const lastMinute = counts.slice(-(60 / SLOT_SECONDS) - 1);
    const lastMinuteSeconds = 60 + elapsedInCurrent;
    const names = new Set(this.#backends);
    for (const k of Object.keys(total)) names.add(k.slice(0, k.indexOf('|')));
    const backends = [...names].map((backend): BackendTraffic => {
      const n = total[`${backend}|n`] ?? 0;
      const recent = lastMinute.reduce((a, c) => a + (c[`${backend}|n`] ?? 0), 0);
      return {
        backend, requests: n, rps: n / seconds, rpsLastMinute: recent / lastMinuteSeconds,
        errorRatio: n > 0 ? (total[`${backend}|e`] ?? 0) / n : null, p99Ms: p99Of(total, backend, n),
      };
    });
    const series: TrafficReading['series'] = { time: slots.map((s) => s * SLOT_SECONDS), rps: {}, errorRatio: {} };
    for (const { backend } of backends) {
      series.rps[backend] = counts.map((c, i) => (c[`${backend}|n`] ?? 0) / (i === counts.length - 1 ? elapsedInCurrent : SLOT_SECONDS));
      series.errorRatio[backend] = counts.map((c) => {
        const n = c[`${backend}|n`] ?? 0;
        return n > 0 ? (c[`${backend}|e`] ?? 0) / n : null;
      });
    }
    return { windowSeconds: WINDOW_SECONDS, slotSeconds: SLOT_SECONDS, backends, series };
  }
}
