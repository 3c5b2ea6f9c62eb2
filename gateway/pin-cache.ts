/**
 * The in-process pin cache, kept out of the JS heap's object graph (issue 15):
 * a fixed set of typed arrays, allocated once, with open addressing (linear
 * probing) keyed by the 96-bit pin digest the store uses for its hash fields
 * (store/pin-layout.ts). The garbage collector sees a handful of array
 * objects whatever the number of pins, so a full cache costs a major GC
 * nothing to mark, and the old space does not grow as the cache fills.
 *
 * Per slot: the digest (12 bytes), created and expiry times (2 × 8 bytes),
 * a backend code (1 byte) and a state byte: 30 bytes. There are 1.5 slots
 * per entry of capacity (a load of at most 2/3 keeps probes short), so
 * 45 bytes per cached pin, allocated up front.
 *
 * Eviction is CLOCK: a hit sets the entry's reference bit; once the cache is
 * full, an insert moves the hand over the slots, clearing reference bits,
 * and evicts the first expired or unreferenced entry. The hand looks at most
 * `MAX_SWEEP` occupied slots, then evicts where it stands, so that no insert
 * ever scans the table. Deleting shifts the following entries of the probe
 * run back (no tombstones), so lookups never slow down with churn.
 */
import type { Pin } from './store/types.ts';

const EMPTY = 0;
const HELD = 1;
const REFERENCED = 2;
/** Occupied slots the CLOCK hand passes over at most before evicting where it stands. */
const MAX_SWEEP = 64;
/** Backend codes are one byte. */
const MAX_BACKENDS = 256;

/** The cache keys on the first 96 bits (24 hex digits) of a pin's digest, the bits the store names a pin by. */
export { pinDigest } from './store/pin-layout.ts';

/** Word `n` (0-2) of a hex digest. */
const word = (d: string, n: number) => parseInt(d.substring(n * 8, n * 8 + 8), 16);

/** A bounded map from pin digests to pins, in typed arrays (see the file comment). */
export class PinCache {
  /** Most entries held at once. */
  readonly capacity: number;
  readonly #slots: number;
  readonly #keys: Uint32Array;
  readonly #pinnedAt: Float64Array;
  readonly #expiresAt: Float64Array;
  readonly #backend: Uint8Array;
  readonly #state: Uint8Array;
  readonly #names: string[] = [];
  readonly #codes = new Map<string, number>();
  #size = 0;
  #hand = 0;
  #evictions = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`pin cache capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.#slots = Math.ceil(capacity * 1.5) + 1;
    this.#keys = new Uint32Array(this.#slots * 3);
    this.#pinnedAt = new Float64Array(this.#slots);
    this.#expiresAt = new Float64Array(this.#slots);
    this.#backend = new Uint8Array(this.#slots);
    this.#state = new Uint8Array(this.#slots);
  }

  /** Entries held now. */
  get size(): number { return this.#size; }
  /** Entries evicted to make room, since the cache was made. */
  get evictions(): number { return this.#evictions; }
  /** Bytes of the typed arrays (the cache's whole memory, outside the JS heap's objects). */
  get bytes(): number {
    return this.#keys.byteLength + this.#pinnedAt.byteLength + this.#expiresAt.byteLength + this.#backend.byteLength + this.#state.byteLength;
  }

  /** The slot an entry's probe run starts at: the first digest word, mapped onto the slots without a modulo. */
  #home(k0: number): number {
    return Math.floor((k0 * this.#slots) / 4294967296);
  }

  #find(k0: number, k1: number, k2: number): number {
    const keys = this.#keys;
    for (let i = this.#home(k0); ; i = i + 1 === this.#slots ? 0 : i + 1) {
      if (this.#state[i] === EMPTY) return -1;
      if (keys[i * 3] === k0 && keys[i * 3 + 1] === k1 && keys[i * 3 + 2] === k2) return i;
    }
  }

  /** The live pin of `digest` at `now`, or undefined; an expired entry is dropped. */
  get(digest: string, now: number): Pin | undefined {
    const i = this.#find(word(digest, 0), word(digest, 1), word(digest, 2));
    if (i < 0) return undefined;
    if (this.#expiresAt[i] <= now) { this.#removeAt(i); return undefined; }
    this.#state[i] = REFERENCED;
    return { backend: this.#names[this.#backend[i]], pinnedAt: this.#pinnedAt[i], expiresAt: this.#expiresAt[i] };
  }

  /**
   * Caches `pin` under `digest`, evicting an entry when full; `now` lets the
   * eviction prefer expired entries. False when the pin cannot be cached
   * (already expired, or a 257th backend name): the caller then simply asks the store.
   */
  set(digest: string, pin: Pin, now: number): boolean {
    if (pin.expiresAt <= now) return false;
    const code = this.#codeOf(pin.backend);
    if (code < 0) return false;
    const k0 = word(digest, 0), k1 = word(digest, 1), k2 = word(digest, 2);
    let i = this.#find(k0, k1, k2);
    if (i < 0) {
      if (this.#size >= this.capacity) this.#evictOne(now);
      i = this.#home(k0);
      while (this.#state[i] !== EMPTY) i = i + 1 === this.#slots ? 0 : i + 1;
      this.#keys[i * 3] = k0; this.#keys[i * 3 + 1] = k1; this.#keys[i * 3 + 2] = k2;
      this.#size += 1;
    }
    this.#state[i] = REFERENCED;
    this.#backend[i] = code;
    this.#pinnedAt[i] = pin.pinnedAt;
    this.#expiresAt[i] = pin.expiresAt;
    return true;
  }

  /** Drops the entry of `digest` (a pin that moved must not be served from here again); true when there was one. */
  delete(digest: string): boolean {
    const i = this.#find(word(digest, 0), word(digest, 1), word(digest, 2));
    if (i < 0) return false;
    this.#removeAt(i);
    return true;
  }

  /** Drops every entry. */
  clear(): void {
    this.#state.fill(EMPTY);
    this.#size = 0;
  }

  #codeOf(name: string): number {
    let code = this.#codes.get(name);
    if (code !== undefined) return code;
    if (this.#names.length >= MAX_BACKENDS) return -1;
    code = this.#names.push(name) - 1;
    this.#codes.set(name, code);
    return code;
  }

  /** CLOCK: evicts the first expired or unreferenced entry from the hand on, within `MAX_SWEEP` occupied slots. */
  #evictOne(now: number): void {
    let seen = 0;
    for (;;) {
      const h = this.#hand;
      const s = this.#state[h];
      if (s !== EMPTY) {
        if (s === HELD || this.#expiresAt[h] <= now || ++seen > MAX_SWEEP) {
          this.#removeAt(h);
          this.#evictions += 1;
          return;
        }
        this.#state[h] = HELD;
      }
      this.#hand = h + 1 === this.#slots ? 0 : h + 1;
    }
  }

  /** Empties slot `i`, then moves back each later entry of the run that may live there (backward-shift deletion). */
  #removeAt(i: number): void {
    const n = this.#slots;
    const keys = this.#keys;
    this.#state[i] = EMPTY;
    this.#size -= 1;
    for (let j = i + 1 === n ? 0 : i + 1; this.#state[j] !== EMPTY; j = j + 1 === n ? 0 : j + 1) {
      const home = this.#home(keys[j * 3]);
      // The entry at j may move to i when i lies on its probe path, from home to j.
      if ((j - home + n) % n < (j - i + n) % n) continue;
      keys[i * 3] = keys[j * 3]; keys[i * 3 + 1] = keys[j * 3 + 1]; keys[i * 3 + 2] = keys[j * 3 + 2];
      this.#pinnedAt[i] = this.#pinnedAt[j];
      this.#expiresAt[i] = this.#expiresAt[j];
      this.#backend[i] = this.#backend[j];
      this.#state[i] = this.#state[j];
      this.#state[j] = EMPTY;
      i = j;
    }
  }
}
