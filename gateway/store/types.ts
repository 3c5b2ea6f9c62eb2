/**
 * The state store: pins, rules with their history, merchant flags, audit and
 * change notifications. Two implementations: Redis (shared by many instances)
 * and the embedded in-memory store (one instance, for the demo and tests).
 */
import type { Ruleset } from '../rules.ts';
import type { BackendPinCount } from './pin-counts.ts';
import type { MoveOutcome } from './pin-moves.ts';

export type { BackendPinCount } from './pin-counts.ts';
export type { MoveOutcome } from './pin-moves.ts';

/**
 * Where a transaction lives. A pin moves only in a verified hand-over (issue
 * 16), which freezes it first: `movingUntil` (ms) while frozen, read in the
 * same round trip as the pin. Pins expire `ttl` after `pinnedAt`.
 * `tag`: set by the claim that wrote the pin (a create's claim token, with the
 * request fingerprint for an idempotency key; see gateway/data/claims.ts); absent on
 * pins that are never released (transaction ids).
 */
export interface Pin { backend: string; pinnedAt: number; expiresAt: number; tag?: string; movingUntil?: number }

/** Result of a set-if-absent pin: the pin that holds now, and whether this call made it. */
export interface PinResult extends Pin { created: boolean }

/** One claim of a request: a pin key and the tag it writes (a claim token, and on an idempotency key the request fingerprint). */
export interface ClaimWant { key: string; tag: string }

/** What Store.claimPins did: every claim made or joined, or none (the live pins as found, in claim order). */
export type ClaimsResult = { claimed: true; pins: PinResult[] } | { claimed: false; pins: (Pin | null)[] };

export interface StoredRuleset {
  version: number;
  updatedAt: string;
  updatedBy: string;
  comment?: string;
  ruleset: Ruleset;
}

export type RulesetMeta = Omit<StoredRuleset, 'ruleset'>;

export interface MerchantFlag {
  merchant: string;
  backend: string;
  comment?: string;
  updatedAt: string;
  updatedBy: string;
}

export interface AuditEntry {
  time: string;
  actor: string;
  action: string;
  target?: string;
  before: unknown;
  after: unknown;
  /** Why, when the change itself carries no comment (e.g. a removed merchant flag). */
  comment?: string;
}

/** A change another instance must learn about; carried by pub/sub. */
export interface ChangeEvent {
  kind: 'rules' | 'flags' | 'canary' | 'pins';
  version?: number;
  merchant?: string;
  /** kind 'pins': pin keys every instance must drop from its cache, then acknowledge under `fence` (control/pin-fence.ts). */
  keys?: string[];
  fence?: string;
}

/** The ruleset changed since the caller read it (`If-Match` was stale). */
export class VersionConflictError extends Error {
  readonly current: number;
  constructor(current: number) {
    super(`the ruleset is at version ${current}`);
    this.current = current;
  }
}

export interface Store {
  readonly kind: 'redis' | 'memory';
  /** Resolves when the store answers; rejects when it cannot. */
  ping(): Promise<void>;

  /** Pins `key` to `backend` unless a live pin exists; returns the pin that holds. */
  pinIfAbsent(key: string, backend: string, now: number): Promise<PinResult>;
  /**
   * A request's claims (gateway/data/claims.ts), all or none, in one call:
   * each key is pinned with its tag, or, when a live pin holds it, joined:
   * the pin takes this tag (its age unchanged), so that the claim that made
   * it can no longer release it. The backend is `backend`, or with `follow`
   * that of the first key's live pin. Nothing is written when a live pin is
   * frozen by a hand-over, is on another backend, or carries a fingerprint
   * other than its claim's: then `claimed` is false and `pins` are the live
   * pins as found (null where none).
   */
  claimPins(claims: readonly ClaimWant[], backend: string, follow: boolean, now: number): Promise<ClaimsResult>;
  /**
   * Withdraws claims: deletes each live pin only if it still carries its
   * claim's tag (no other request has joined it since). True for each pin deleted.
   */
  releasePins(claims: readonly ClaimWant[], now: number): Promise<boolean[]>;
  /** The live pin of `key`, or null. */
  getPin(key: string, now: number): Promise<Pin | null>;
  /**
   * Hand-over steps on each key (gateway/store/pin-moves.ts): `freeze` a pin on
   * `from` until `untilMs`; `move` a pin still frozen with that `untilMs` to
   * `to` (its age, tag and transaction count go with it); `thaw` it. Outcomes
   * in key order.
   */
  movePins(op: 'freeze' | 'move' | 'thaw', keys: readonly string[], from: string, to: string, untilMs: number, now: number): Promise<MoveOutcome[]>;
  /** Live transactions per backend name, counted by the calls that write and move pins (pin-counts.ts). */
  pinCounts(now: number): Promise<Record<string, BackendPinCount>>;

  getRules(): Promise<StoredRuleset | null>;
  getRulesVersion(version: number): Promise<StoredRuleset | null>;
  rulesHistory(): Promise<RulesetMeta[]>;
  /**
   * Stores a new version. With `ifVersion`, only when the current version is
   * that one (0 = none yet); otherwise throws VersionConflictError.
   */
  putRules(ruleset: Ruleset, meta: { actor: string; comment?: string; ifVersion?: number; now: Date }): Promise<StoredRuleset>;

  listFlags(): Promise<MerchantFlag[]>;
  getFlag(merchant: string): Promise<MerchantFlag | null>;
  /** Sets a flag; returns the one it replaced. */
  putFlag(flag: MerchantFlag): Promise<MerchantFlag | null>;
  /** Removes a flag; returns the one removed. */
  deleteFlag(merchant: string): Promise<MerchantFlag | null>;

  appendAudit(entry: AuditEntry): Promise<void>;
  /** Newest first. */
  listAudit(limit: number): Promise<AuditEntry[]>;

  /** Tells every instance (this one included) about a change. */
  publish(event: ChangeEvent): Promise<void>;
  /** Calls `handler` for every published change; returns an unsubscribe function. */
  subscribe(handler: (event: ChangeEvent) => void): () => void;

  /** Generic small JSON documents (canary state) with compare-and-set by revision. */
  getDoc<T>(name: string): Promise<{ rev: number; value: T } | null>;
  putDoc<T>(name: string, value: T, ifRev: number): Promise<number | null>;
  /** A lease: true when `owner` holds `name` for `ttlMs` from now (acquired or renewed). */
  acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string, owner: string): Promise<void>;
  /** Adds to counters of one time window (metrics shared across instances). */
  addCounters(name: string, fields: Record<string, number>, ttlMs: number): Promise<void>;
  readCounters(name: string): Promise<Record<string, number>>;
  /** Raises counters of one window to the given values where they are lower (last-seen times). */
  raiseCounters(name: string, fields: Record<string, number>, ttlMs: number): Promise<void>;

  close(): Promise<void>;
}
