/**
 * Transaction pins: which backend holds a transaction. Read through an
 * in-process cache (pin-cache.ts); a store failure becomes
 * `pin_store_unavailable`, never a guess. A pin moves only in a hand-over
 * (issue 16), which first has every instance drop its cached copy
 * (control/pin-fence.ts, `forget`); the cache is used only while this
 * instance is known to every hand-over job (`trustCacheUntil`), and a pin
 * read while a forget happened, or frozen for a move, is not cached.
 *
 * A create's claim (a pin with a tag, data/claims.ts) may still be released while
 * its create is in flight, so it is cached only once that can no longer
 * happen: when this instance saw its create answered other than with a
 * refusal (`confirm`), or when it is older than `claimsFinalAfterMs` (every
 * create is answered, or timed out, by then).
 */
import { performance } from 'node:perf_hooks';
import { GatewayError } from './errors.ts';
import { PinCache, pinDigest } from './pin-cache.ts';
import type { ClaimWant, ClaimsResult, Pin, PinResult, Store } from './store/types.ts';

/** Pin keys. Merchant ids and order numbers never contain ':' (both are validated). */
export const pinKey = {
  transaction: (id: string) => `t:${id}`,
  order: (merchant: string, order: string) => `o:${merchant}:${order}`,
  idempotency: (merchant: string, key: string) => `k:${merchant}:${key}`,
};

export type PinOp = 'lookup' | 'claim' | 'release';

export interface PinEvents {
  /** op: lookup | claim | release; outcome: hit (cache) | found | absent | created | joined | refused | released | kept | error */
  onPinOp?(op: PinOp, outcome: string): void;
  onStoreError?(err: unknown): void;
  /**
   * One store round trip of the data path, in seconds. command: claim (a
   * request's order and idempotency-key pins before forwarding) | release
   * (of those claims, after a refusal) | pin (a transaction id after the
   * answer) | lookup.
   */
  onStoreCall?(command: StoreCall, seconds: number): void;
}

export type StoreCall = 'claim' | 'release' | 'pin' | 'lookup';

export interface PinPort {
  /** The live pin of a key, or null; throws pin_store_unavailable when the store cannot tell. */
  lookup(key: string): Promise<Pin | null>;
  /** Pins a key unless already pinned (a transaction id); returns the pin that holds. */
  claim(key: string, backend: string): Promise<PinResult>;
  /**
   * A request's claims in one store call (Store.claimPins): made or joined,
   * or none. Always asks the store: a cached claim may have been released.
   */
  claimAll(claims: readonly ClaimWant[], backend: string, follow: boolean): Promise<ClaimsResult>;
  /** Withdraws claims in one store call: deletes each pin that still carries its tag; true for each deleted. */
  releaseAll(claims: readonly ClaimWant[]): Promise<boolean[]>;
  /** Marks a claim final (its create was answered, not refused): it may be cached. */
  confirm(key: string, pin: Pin): void;
}

export class PinService implements PinPort {
  readonly #store: Store;
  readonly #cache: PinCache | null;
  readonly #now: () => number;
  readonly #events: PinEvents;
  readonly #ttlMs: number;
  readonly #claimsFinalAfterMs: number;
  /** Bumped by every forget: a store answer read across one is not cached (it may predate the move). */
  #generation = 0;
  /** Wall-clock ms until which cached pins may be used (Infinity until a fence takes charge). */
  #trustedUntil = Infinity;

  /** `claimsFinalAfterMs`: age after which a claim can no longer be released (default: at once). */
  constructor(store: Store, opts: { cacheSize: number; ttlMs: number; claimsFinalAfterMs?: number; now?: () => number; events?: PinEvents }) {
    this.#ttlMs = opts.ttlMs;
    this.#claimsFinalAfterMs = opts.claimsFinalAfterMs ?? 0;
    this.#store = store;
    this.#cache = opts.cacheSize > 0 ? new PinCache(opts.cacheSize) : null;
    this.#now = opts.now ?? Date.now;
    this.#events = opts.events ?? {};
  }

  #cached(key: string, now: number): Pin | null {
    if (this.#trustedUntil <= Date.now()) return null;
    return this.#cache?.get(pinDigest(key), now) ?? null;
  }

  /** Caches a pin read from the store, unless it is frozen or a forget happened since the read began (`generation`). */
  #keep(key: string, pin: Pin, now: number, generation = this.#generation): void {
    if (pin.movingUntil !== undefined || generation !== this.#generation) return;
    this.#cache?.set(pinDigest(key), { backend: pin.backend, pinnedAt: pin.pinnedAt, expiresAt: pin.expiresAt, ...(pin.tag === undefined ? {} : { tag: pin.tag }) }, now);
  }

  /**
   * Cached pins may be used until `wallClockMs` (control/pin-fence.ts renews
   * it while this instance is registered with the store); after it, every
   * lookup asks the store.
   */
  trustCacheUntil(wallClockMs: number): void {
    this.#trustedUntil = wallClockMs;
  }

  #timed(command: StoreCall, started: number): void {
    this.#events.onStoreCall?.(command, (performance.now() - started) / 1000);
  }

  /** Pins held in the local cache now. */
  get cachedPins(): number {
    return this.#cache?.size ?? 0;
  }

  /** Drops a locally cached pin (a pin that moved); the next request for it asks the store. */
  forget(key: string): void {
    this.#generation++;
    this.#cache?.delete(pinDigest(key));
  }

  /** A pin that can never be released: untagged, or a claim old enough. */
  #final(pin: Pin, now: number): boolean {
    return pin.tag === undefined || now - pin.pinnedAt > this.#claimsFinalAfterMs;
  }

  #fail(op: PinOp, err: unknown): never {
    this.#events.onPinOp?.(op, 'error');
    this.#events.onStoreError?.(err);
    throw new GatewayError('pin_store_unavailable', { cause: err, headers: { 'retry-after': '1' } });
  }

  async lookup(key: string): Promise<Pin | null> {
    const now = this.#now();
    const hit = this.#cached(key, now);
    if (hit) { this.#events.onPinOp?.('lookup', 'hit'); return hit; }
    let pin: Pin | null;
    const started = performance.now();
    const generation = this.#generation;
    try {
      pin = await this.#store.getPin(key, now);
    } catch (err) {
      this.#fail('lookup', err);
    } finally {
      this.#timed('lookup', started);
    }
    this.#events.onPinOp?.('lookup', pin ? 'found' : 'absent');
    if (pin && this.#final(pin, now)) this.#keep(key, pin, now, generation);
    return pin;
  }

  /** `opts.store`: write through to the store even when the pin is cached (a pin only remembered locally). */
  async claim(key: string, backend: string, opts: { store?: boolean } = {}): Promise<PinResult> {
    const now = this.#now();
    const hit = opts.store ? null : this.#cached(key, now);
    if (hit) { this.#events.onPinOp?.('claim', 'hit'); return { ...hit, created: false }; }
    let pin: PinResult;
    const started = performance.now();
    const generation = this.#generation;
    try {
      pin = await this.#store.pinIfAbsent(key, backend, now);
    } catch (err) {
      this.#fail('claim', err);
    } finally {
      this.#timed('pin', started);
    }
    this.#events.onPinOp?.('claim', pin.created ? 'created' : 'found');
    if (this.#final(pin, now)) this.#keep(key, pin, now, generation);
    return pin;
  }

  async claimAll(claims: readonly ClaimWant[], backend: string, follow: boolean): Promise<ClaimsResult> {
    const now = this.#now();
    let r: ClaimsResult;
    const started = performance.now();
    const generation = this.#generation;
    try {
      r = await this.#store.claimPins(claims, backend, follow, now);
    } catch (err) {
      this.#fail('claim', err);
    } finally {
      this.#timed('claim', started);
    }
    if (!r.claimed) {
      this.#events.onPinOp?.('claim', 'refused');
      return r;
    }
    r.pins.forEach((pin, i) => {
      this.#events.onPinOp?.('claim', pin.created ? 'created' : 'joined');
      if (this.#final(pin, now)) this.#keep(claims[i].key, pin, now, generation);
    });
    return r;
  }

  /** A claim whose create was answered other than with a refusal: it is final, and may be cached. */
  confirm(key: string, pin: Pin): void {
    this.#keep(key, pin, this.#now());
  }

  async releaseAll(claims: readonly ClaimWant[]): Promise<boolean[]> {
    if (claims.length === 0) return [];
    let released: boolean[];
    const started = performance.now();
    try {
      released = await this.#store.releasePins(claims, this.#now());
    } catch (err) {
      this.#fail('release', err);
    } finally {
      this.#timed('release', started);
    }
    released.forEach((deleted, i) => {
      this.#events.onPinOp?.('release', deleted ? 'released' : 'kept');
      if (deleted) this.#cache?.delete(pinDigest(claims[i].key));
    });
    return released;
  }

  /** Remembers a pin locally only (its store write failed; this instance still routes it right). */
  remember(key: string, backend: string): void {
    const now = this.#now();
    this.#keep(key, { backend, pinnedAt: now, expiresAt: now + this.#ttlMs }, now);
  }
}
