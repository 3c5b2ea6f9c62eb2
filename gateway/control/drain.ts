/**
 * The drain report (issue 16, SPEC 11): per backend, its live transactions
 * (store pin counts), new transactions and follow-ups (DrainStats), a verdict
 * with its reason, and the switch-off guard: a backend that still holds live
 * pins but is no longer configured, or to which no rule sends anything, is
 * named in `warnings`, which /readyz repeats.
 */
import type { RoutingState } from '../data/decide.ts';
import type { Store } from '../store/types.ts';
import type { DrainStats, TrafficCounts } from './drain-stats.ts';

/** A backend with no follow-up for this long (and no new transactions) is idle. */
const IDLE_DAYS = 7;
/** /readyz reuses a report this recent. */
const READY_REPORT_MS = 30_000;

export type Verdict = 'serving' | 'draining' | 'idle';

export interface BackendDrain extends TrafficCounts {
  livePins: number;
  verdict: Verdict;
  reason: string;
  /** Set with verdict idle: since when nothing was routed there (the last follow-up), or null when none was ever seen. */
  idleSince?: string | null;
  configured: boolean;
  expiring: { month: string; pins: number }[];
}

export interface DrainReport { generatedAt: string; backends: Record<string, BackendDrain>; warnings: string[] }

/** Where the rules or a merchant flag may still send new transactions, and why. */
function servingReasons(state: RoutingState): Map<string, string> {
  const out = new Map<string, string>();
  const note = (b: string, why: string) => { if (!out.has(b)) out.set(b, why); };
  const { ruleset } = state.rules;
  for (const r of ruleset.rules) {
    if (r.backend) note(r.backend, `rule "${r.name}" sends new transactions there`);
    for (const e of r.split ?? []) if (e.weight > 0) note(e.backend, `rule "${r.name}" splits ${e.weight}% there`);
    if (r.failover) note(r.failover, `rule "${r.name}" fails over there`);
  }
  note(ruleset.default, 'it is the ruleset default');
  for (const [merchant, b] of state.flags) note(b, `merchant ${merchant} is flagged there`);
  return out;
}

export interface DrainDeps { store: Store; stats: DrainStats; state: () => RoutingState; configured: () => string[]; now?: () => number }

export class DrainReporter {
  readonly #deps: DrainDeps;
  #last: { at: number; report: DrainReport } | null = null;
  #refreshing: Promise<unknown> | null = null;

  constructor(deps: DrainDeps) { this.#deps = deps; }

  async report(): Promise<DrainReport> {
    const now = (this.#deps.now ?? Date.now)();
    const [counts, traffic] = await Promise.all([this.#deps.store.pinCounts(now), this.#deps.stats.read()]);
    const configured = new Set(this.#deps.configured());
    const serving = servingReasons(this.#deps.state());
    const names = [...new Set([...configured, ...Object.keys(counts), ...Object.keys(traffic)])].sort();
    const backends: Record<string, BackendDrain> = {};
    const warnings: string[] = [];
    for (const b of names) {
      const t = traffic[b] ?? { newTransactions: { hour: 0, day: 0 }, followUps: { hour: 0, day: 0, week: 0 }, lastFollowUpAt: null };
      const livePins = counts[b]?.live ?? 0;
      const expiring = Object.entries(counts[b]?.expiring ?? {}).sort(([a], [c]) => a.localeCompare(c)).map(([month, pins]) => ({ month, pins }));
      const lastAt = t.lastFollowUpAt === null ? null : Date.parse(t.lastFollowUpAt);
      let verdict: Verdict; let reason: string; let idleSince: string | null | undefined;
      if (configured.has(b) && serving.has(b)) {
        verdict = 'serving'; reason = serving.get(b)!;
      } else if (lastAt !== null && now - lastAt < IDLE_DAYS * 86_400_000) {
        verdict = 'draining'; reason = `no rule or flag sends new transactions there; ${t.followUps.week} follow-ups in the last week, the last at ${t.lastFollowUpAt}`;
      } else {
        verdict = 'idle'; idleSince = t.lastFollowUpAt;
        reason = `nothing routed there for ${IDLE_DAYS} days${t.lastFollowUpAt ? ` (last follow-up ${t.lastFollowUpAt})` : ' (no follow-up recorded)'}`;
      }
      if (livePins > 0 && !configured.has(b)) {
        warnings.push(`SWITCH-OFF GUARD: backend "${b}" is not configured but still owns ${livePins} live transaction(s); their follow-ups are refused until it is configured again or they are handed over`);
      } else if (livePins > 0 && verdict !== 'serving') {
        warnings.push(`backend "${b}" gets no new transactions but still owns ${livePins} live transaction(s): do not switch it off before they expire or are handed over`);
      }
      backends[b] = { livePins, newTransactions: t.newTransactions, followUps: t.followUps, lastFollowUpAt: t.lastFollowUpAt, verdict, reason, ...(verdict === 'idle' ? { idleSince } : {}), configured: configured.has(b), expiring };
    }
    const report = { generatedAt: new Date(now).toISOString(), backends, warnings };
    this.#last = { at: Date.now(), report };
    return report;
  }

  /** The warnings of a recent report for /readyz, refreshed in the background (never blocks a probe on a scan). */
  warnings(): string[] {
    if ((!this.#last || Date.now() - this.#last.at > READY_REPORT_MS) && !this.#refreshing) {
      this.#refreshing = this.report().catch(() => {}).finally(() => { this.#refreshing = null; });
    }
    return this.#last?.report.warnings ?? [];
  }
}
