/**
 * What a load run measured: request count, rate, latency percentiles and the
 * answers by step and status (a follow-up answered 404 means it reached a
 * backend that does not hold the payment).
 */
export interface RunStats {
  requests: number;
  seconds: number;
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number };
  non2xx: number;
  errors: number;
  /** Follow-ups answered 404: the payment was not where the request went. */
  followUp404: number;
  byStep: Record<string, Record<string, number>>;
  /** Paced runs: p99 latency of each step (creates wait for the pin store, follow-ups mostly do not). */
  p99ByStep?: Record<string, number>;
  /** Paced runs: the target fell so far behind that the run stopped sending early (at `saturatedAt` s). */
  saturatedAt?: number;
  /** Paced runs: how long the load generator's own event loop stalled (p99, max), which shows up in every latency. */
  loaderLagMs?: { p99: number; max: number };
}

/** The middle value; for an even count, the mean of the two middle ones. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}

/** Collects latencies (ms) and answers of one run. */
export class Recorder {
  #lat = new Float64Array(1 << 16);
  #n = 0;
  non2xx = 0;
  errors = 0;
  followUp404 = 0;
  readonly byStep: Record<string, Record<string, number>> = {};

  readonly #stepLat = new Map<string, number[]>();

  /** Latency of one answer of `step` (kept per step as well, for the slowest steps' percentiles). */
  stepLatency(step: string, ms: number): void {
    let xs = this.#stepLat.get(step);
    if (!xs) this.#stepLat.set(step, (xs = []));
    xs.push(ms);
    this.latency(ms);
  }

  latency(ms: number): void {
    if (this.#n === this.#lat.length) {
      const bigger = new Float64Array(this.#lat.length * 2);
      bigger.set(this.#lat);
      this.#lat = bigger;
    }
    this.#lat[this.#n++] = ms;
  }

  answer(step: string, status: number, followUp: boolean): void {
    const row = (this.byStep[step] ??= {});
    row[status] = (row[status] ?? 0) + 1;
    if (status < 200 || status >= 300) this.non2xx += 1;
    if (followUp && status === 404) this.followUp404 += 1;
  }

  error(step: string): void {
    this.errors += 1;
    const row = (this.byStep[step] ??= {});
    row.error = (row.error ?? 0) + 1;
  }

  get count(): number { return this.#n; }

  stats(seconds: number): RunStats {
    const sorted = this.#lat.slice(0, this.#n).sort();
    const at = (q: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]);
    const round = (x: number) => Math.round(x * 1000) / 1000;
    return {
      requests: this.#n, seconds, rps: Math.round(this.#n / seconds),
      latencyMs: { p50: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), p999: round(at(0.999)), max: round(sorted.at(-1) ?? 0) },
      non2xx: this.non2xx, errors: this.errors, followUp404: this.followUp404, byStep: this.byStep,
      ...(this.#stepLat.size > 0 ? { p99ByStep: Object.fromEntries([...this.#stepLat].map(([k, xs]) => [k, round(quantile(xs, 0.99))])) } : {}),
    };
  }
}
