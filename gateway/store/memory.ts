/**
 * The embedded store: everything in this process's memory. For a single
 * instance (the demo, tests, trying Cutover out); state is lost on exit.
 */
import { EventEmitter } from 'node:events';
import type { Ruleset } from '../rules.ts';
import {
  VersionConflictError,
  type AuditEntry, type ChangeEvent, type ClaimWant, type ClaimsResult, type MerchantFlag, type Pin, type PinResult,
  type RulesetMeta, type Store, type StoredRuleset,
} from './types.ts';
import { defaultLayout, fingerprintOf } from './pin-layout.ts';
import { isTransactionKey, sliceOf, sliceSeconds, tally, type BackendPinCount } from './pin-counts.ts';
import type { MoveOutcome } from './pin-moves.ts';

/** Entries a sweep looks at per call: expired entries go in bounded steps, never in one long pass. */
const SWEEP_STEP = 16;

/**
 * Walks a map a few entries per call, deleting those `expired` says are,
 * and starts over at the end. (A Map iterator stays valid while entries are
 * added and deleted, and visits the ones added after it started.)
 */
class Sweeper<K, V> {
  readonly #map: Map<K, V>;
  #cursor: Iterator<[K, V]>;
  constructor(map: Map<K, V>) { this.#map = map; this.#cursor = map.entries(); }
  step(expired: (v: V) => boolean): void {
    for (let i = 0; i < SWEEP_STEP; i++) {
      const next = this.#cursor.next();
      if (next.done) { this.#cursor = this.#map.entries(); return; }
      if (expired(next.value[1])) this.#map.delete(next.value[0]);
    }
  }
}

export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #pins = new Map<string, { backend: string; pinnedAt: number; tag?: string; movingUntil?: number }>();
  /** Live transactions per backend and expiry slice (pin-counts.ts), kept by the calls that write and move pins. */
  readonly #counts = new Map<string, Map<number, number>>();
  readonly #slice: number;
  readonly #versions: StoredRuleset[] = [];
  readonly #flags = new Map<string, MerchantFlag>();
  readonly #audit: AuditEntry[] = [];
  readonly #events = new EventEmitter();
  readonly #docs = new Map<string, { rev: number; value: unknown }>();
  readonly #leases = new Map<string, { owner: string; until: number }>();
  readonly #counters = new Map<string, { until: number; fields: Record<string, number> }>();
  readonly #pinSweep = new Sweeper(this.#pins);
  readonly #counterSweep = new Sweeper(this.#counters);

  /** `now` is the clock of counters and leases (pins take theirs from the caller). */
  constructor(opts: { pinTtlMs: number; now?: () => number }) {
    this.#ttlMs = opts.pinTtlMs;
    this.#now = opts.now ?? Date.now;
    this.#slice = sliceSeconds(defaultLayout(Math.max(1, Math.ceil(opts.pinTtlMs / 1000))));
    this.#events.setMaxListeners(0);
  }

  async ping(): Promise<void> {}

  #live(key: string, now: number): Pin | null {
    const p = this.#pins.get(key);
    if (!p) return null;
    const expiresAt = p.pinnedAt + this.#ttlMs;
    if (expiresAt <= now) { this.#pins.delete(key); return null; }
    const pin: Pin = { backend: p.backend, pinnedAt: p.pinnedAt, expiresAt };
    if (p.tag !== undefined) pin.tag = p.tag;
    if (p.movingUntil !== undefined) pin.movingUntil = p.movingUntil;
    return pin;
  }

  #count(key: string, backend: string, pinnedAt: number, n: number): void {
    if (!isTransactionKey(key)) return;
    const slice = sliceOf(Math.floor((pinnedAt + this.#ttlMs) / 1000), this.#slice);
    let m = this.#counts.get(backend);
    if (!m) this.#counts.set(backend, m = new Map());
    m.set(slice, (m.get(slice) ?? 0) + n);
  }

  #set(key: string, backend: string, now: number, tag?: string): PinResult {
    // Every write also sweeps a few pins past their TTL, so that the map holds live pins only.
    this.#pinSweep.step((p) => p.pinnedAt + this.#ttlMs <= now);
    this.#pins.set(key, tag === undefined ? { backend, pinnedAt: now } : { backend, pinnedAt: now, tag });
    this.#count(key, backend, now, 1);
    return { backend, pinnedAt: now, expiresAt: now + this.#ttlMs, ...(tag === undefined ? {} : { tag }), created: true };
  }

  async pinIfAbsent(key: string, backend: string, now: number): Promise<PinResult> {
    const existing = this.#live(key, now);
    return existing ? { ...existing, created: false } : this.#set(key, backend, now);
  }

  async claimPins(claims: readonly ClaimWant[], backend: string, follow: boolean, now: number): Promise<ClaimsResult> {
    const found = claims.map((c) => this.#live(c.key, now));
    if (follow && found[0]) backend = found[0].backend;
    const refused = found.some((pin, i) => pin && (
      (pin.movingUntil ?? 0) > now || pin.backend !== backend || (fingerprintOf(pin.tag) !== '' && fingerprintOf(claims[i].tag) !== '' && fingerprintOf(pin.tag) !== fingerprintOf(claims[i].tag))));
    if (refused) return { claimed: false, pins: found };
    return {
      claimed: true,
      pins: claims.map((c, i) => {
        const pin = found[i];
        if (!pin) return this.#set(c.key, backend, now, c.tag);
        // Joined: the tag changes; the pin's age and any lapsed freeze stay (as in CLAIMS_SCRIPT).
        this.#pins.get(c.key)!.tag = c.tag;
        return { ...pin, tag: c.tag, created: false };
      }),
    };
  }

  async releasePins(claims: readonly ClaimWant[], now: number): Promise<boolean[]> {
    return claims.map((c) => {
      if (this.#live(c.key, now)?.tag !== c.tag) return false;
      this.#pins.delete(c.key);
      return true;
    });
  }

  async getPin(key: string, now: number): Promise<Pin | null> {
    return this.#live(key, now);
  }

  async movePins(op: 'freeze' | 'move' | 'thaw', keys: readonly string[], from: string, to: string, untilMs: number, now: number): Promise<MoveOutcome[]> {
    return keys.map((key): MoveOutcome => {
      const pin = this.#live(key, now);
      if (!pin) return 'absent';
      const p = this.#pins.get(key)!;
      if (p.backend !== from) return op === 'move' && p.backend === to && p.movingUntil === undefined ? 'already' : 'elsewhere';
      if (op === 'freeze') { p.movingUntil = untilMs; return 'done'; }
      if (p.movingUntil !== untilMs || (op === 'move' && untilMs <= now)) return 'lapsed';
      delete p.movingUntil;
      if (op === 'move') {
        p.backend = to;
        this.#count(key, from, p.pinnedAt, -1);
        this.#count(key, to, p.pinnedAt, 1);
      }
      return 'done';
    });
  }

  async pinCounts(now: number): Promise<Record<string, BackendPinCount>> {
    const out: Record<string, BackendPinCount> = {};
    const nowSec = Math.floor(now / 1000);
    for (const [backend, slices] of this.#counts) {
      for (const [slice, n] of slices) {
        // Slices past their end go, so that the map holds live counts only.
        if ((slice + 1) * this.#slice <= nowSec) slices.delete(slice);
        else tally(out, backend, slice, n, this.#slice, nowSec);
      }
    }
    return out;
  }

  async getRules(): Promise<StoredRuleset | null> {
    return structuredClone(this.#versions.at(-1) ?? null);
  }

  async getRulesVersion(version: number): Promise<StoredRuleset | null> {
    return structuredClone(this.#versions[version - 1] ?? null);
  }

  async rulesHistory(): Promise<RulesetMeta[]> {
    return this.#versions.map(({ ruleset: _ruleset, ...meta }) => ({ ...meta }));
  }

  async putRules(ruleset: Ruleset, meta: { actor: string; comment?: string; ifVersion?: number; now: Date }): Promise<StoredRuleset> {
    const current = this.#versions.length;
    if (meta.ifVersion !== undefined && meta.ifVersion !== current) throw new VersionConflictError(current);
    const stored: StoredRuleset = {
      version: current + 1, updatedAt: meta.now.toISOString(), updatedBy: meta.actor,
      ...(meta.comment !== undefined ? { comment: meta.comment } : {}),
      ruleset: structuredClone(ruleset),
    };
    this.#versions.push(stored);
    return structuredClone(stored);
  }

  async listFlags(): Promise<MerchantFlag[]> {
    return [...this.#flags.values()].map((f) => ({ ...f }));
  }

  async getFlag(merchant: string): Promise<MerchantFlag | null> {
    const f = this.#flags.get(merchant);
    return f ? { ...f } : null;
  }

  async putFlag(flag: MerchantFlag): Promise<MerchantFlag | null> {
    const before = this.#flags.get(flag.merchant) ?? null;
    this.#flags.set(flag.merchant, { ...flag });
    return before;
  }

  async deleteFlag(merchant: string): Promise<MerchantFlag | null> {
    const before = this.#flags.get(merchant) ?? null;
    this.#flags.delete(merchant);
    return before;
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    this.#audit.push(structuredClone(entry));
  }

  async listAudit(limit: number): Promise<AuditEntry[]> {
    return structuredClone(this.#audit.slice(-limit).reverse());
  }

  async publish(event: ChangeEvent): Promise<void> {
    queueMicrotask(() => this.#events.emit('change', event));
  }

  subscribe(handler: (event: ChangeEvent) => void): () => void {
    this.#events.on('change', handler);
    return () => this.#events.off('change', handler);
  }

  async getDoc<T>(name: string): Promise<{ rev: number; value: T } | null> {
    const d = this.#docs.get(name);
    return d ? { rev: d.rev, value: structuredClone(d.value) as T } : null;
  }

  async putDoc<T>(name: string, value: T, ifRev: number): Promise<number | null> {
    const rev = this.#docs.get(name)?.rev ?? 0;
    if (rev !== ifRev) return null;
    this.#docs.set(name, { rev: rev + 1, value: structuredClone(value) });
    return rev + 1;
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = this.#now();
    const l = this.#leases.get(name);
    if (l && l.owner !== owner && l.until > now) return false;
    this.#leases.set(name, { owner, until: now + ttlMs });
    return true;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    if (this.#leases.get(name)?.owner === owner) this.#leases.delete(name);
  }

  async addCounters(name: string, fields: Record<string, number>, ttlMs: number): Promise<void> {
    const now = this.#now();
    this.#counterSweep.step((c) => c.until <= now);
    let c = this.#counters.get(name);
    if (!c || c.until <= now) { c = { until: now + ttlMs, fields: {} }; this.#counters.set(name, c); }
    for (const [k, v] of Object.entries(fields)) c.fields[k] = (c.fields[k] ?? 0) + v;
  }

  async readCounters(name: string): Promise<Record<string, number>> {
    const now = this.#now();
    this.#counterSweep.step((c) => c.until <= now);
    const c = this.#counters.get(name);
    return c && c.until > now ? { ...c.fields } : {};
  }

  async raiseCounters(name: string, fields: Record<string, number>, ttlMs: number): Promise<void> {
    const now = this.#now();
    let c = this.#counters.get(name);
    if (!c || c.until <= now) { c = { until: now + ttlMs, fields: {} }; this.#counters.set(name, c); }
    for (const [k, v] of Object.entries(fields)) c.fields[k] = Math.max(c.fields[k] ?? -1, v);
  }

  /** How many pins and counter windows the store holds, expired ones not yet swept included. */
  get held(): { pins: number; counters: number } {
    return { pins: this.#pins.size, counters: this.#counters.size };
  }

  async close(): Promise<void> {
    this.#events.removeAllListeners();
  }
}
