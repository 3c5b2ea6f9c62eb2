/**
 * Traffic counts for the drain report (issue 16): new transactions and
 * follow-ups per backend, batched in memory and added every second to counter
 * hashes in the store shared by every instance (as the canary's gates are,
 * canary-stats.ts): per minute for the last hour, per hour for the day and
 * the week, and the time of each backend's last follow-up.
 */
import type { Store } from '../store/types.ts';
import { BatchedCounters, type Counts } from './batched-counters.ts';

const MINUTE = 60_000;
const HOUR = 3_600_000;

/** Counts of one backend over the report's windows. */
export interface TrafficCounts {
  newTransactions: { hour: number; day: number };
  followUps: { hour: number; day: number; week: number };
  lastFollowUpAt: string | null;
}

export class DrainStats extends BatchedCounters {
  readonly #store: Store;
  readonly #now: () => number;
  #pending = new Map<string, { n: number; f: number; last: number }>();

  constructor(store: Store, now: () => number = Date.now) { super(1000); this.#store = store; this.#now = now; }

  /** Called by the data plane for each answered create (`new`) or follow-up routed to a backend. */
  observe(backend: string, kind: 'new' | 'followUp'): void {
    let p = this.#pending.get(backend);
    if (!p) this.#pending.set(backend, p = { n: 0, f: 0, last: 0 });
    if (kind === 'new') p.n++;
    else { p.f++; p.last = this.#now(); }
  }

  async flush(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    const now = this.#now();
    const counts: Counts = {};
    const last: Counts = {};
    for (const [b, p] of batch) {
      if (p.n) counts[`n:${b}`] = p.n;
      if (p.f) { counts[`f:${b}`] = p.f; last[b] = p.last; }
    }
    try {
      await Promise.all([
        this.#store.addCounters(`drain:m:${Math.floor(now / MINUTE)}`, counts, 2 * HOUR),
        this.#store.addCounters(`drain:h:${Math.floor(now / HOUR)}`, counts, 8 * 24 * HOUR),
        Object.keys(last).length ? this.#store.raiseCounters('drain:last', last, 800 * 24 * HOUR) : undefined,
      ]);
    } catch {
      // Counted again with the next batch (a retried addition may count twice; the report is then high, never low).
      for (const [b, p] of batch) {
        const q = this.#pending.get(b) ?? { n: 0, f: 0, last: 0 };
        this.#pending.set(b, { n: q.n + p.n, f: q.f + p.f, last: Math.max(q.last, p.last) });
      }
    }
  }

  /** Every backend's counts, from all instances: the last 60 minutes, the last 24 and 168 hours (the current one included). */
  async read(): Promise<Record<string, TrafficCounts>> {
    const now = this.#now();
    const minute = Math.floor(now / MINUTE);
    const hour = Math.floor(now / HOUR);
    const read = (names: string[]) => Promise.all(names.map((n) => this.#store.readCounters(n)));
    const [minutes, hours, [last]] = await Promise.all([
      read(Array.from({ length: 60 }, (_, i) => `drain:m:${minute - i}`)),
      read(Array.from({ length: 168 }, (_, i) => `drain:h:${hour - i}`)),
      read(['drain:last']),
    ]);
    const out: Record<string, TrafficCounts> = {};
    const of = (b: string) => out[b] ??= { newTransactions: { hour: 0, day: 0 }, followUps: { hour: 0, day: 0, week: 0 }, lastFollowUpAt: null };
    const add = (c: Record<string, number>, into: (t: TrafficCounts, kind: 'n' | 'f', v: number) => void) => {
      for (const [k, v] of Object.entries(c)) into(of(k.slice(2)), k[0] as 'n' | 'f', v);
    };
    for (const c of minutes) add(c, (t, k, v) => { if (k === 'n') t.newTransactions.hour += v; else t.followUps.hour += v; });
    hours.forEach((c, i) => add(c, (t, k, v) => {
      if (k === 'n' && i < 24) t.newTransactions.day += v;
      if (k === 'f') { t.followUps.week += v; if (i < 24) t.followUps.day += v; }
    }));
    for (const [b, at] of Object.entries(last)) of(b).lastFollowUpAt = new Date(at).toISOString();
    return out;
  }
}
