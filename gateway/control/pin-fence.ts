/**
 * The cache fence of a hand-over (issue 16, docs/handover.md): before a job
 * reads a transaction from both backends, every instance has dropped its
 * cached pins of it and said so.
 *
 * Each instance registers itself in the store every second (a counter hash
 * per 10-second slot, so a registration is listed for at least 10 seconds),
 * and uses its pin cache only for 6 seconds after its last registration went
 * through. A fence publishes the keys, and is passed when every instance
 * registered in the current or the previous slot has acknowledged it; an
 * instance that is not listed has not reached the store for over 10 seconds,
 * so it stopped using its cache at least 4 seconds ago (the margin covers
 * clock differences between instances).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { PinService } from '../pins.ts';
import type { ChangeEvent, Store } from '../store/types.ts';

const SLOT_MS = 10_000;
const TRUST_MS = 6_000;
const RENEW_MS = 1_000;
/** How often a fence is published again while acknowledgements are missing (a lost message). */
const REPUBLISH_MS = 500;

export class PinFence {
  readonly id = randomUUID();
  readonly #store: Store;
  readonly #pins: PinService;
  readonly #log: Logger;
  readonly #settle: () => Promise<boolean>;
  #timer?: NodeJS.Timeout;
  #unsubscribe?: () => void;

  /** `settle`: resolves true once the requests in flight on this instance when it was called have ended. */
  constructor(deps: { store: Store; pins: PinService; log: Logger; settle?: () => Promise<boolean> }) {
    this.#settle = deps.settle ?? (async () => true);
    this.#store = deps.store;
    this.#pins = deps.pins;
    this.#log = deps.log;
    // Until the first registration, this instance is unknown to the jobs: no cache.
    this.#pins.trustCacheUntil(0);
  }

  async start(): Promise<void> {
    this.#unsubscribe = this.#store.subscribe((e) => this.#onEvent(e));
    await this.#register();
    this.#timer = setInterval(() => void this.#register(), RENEW_MS);
    this.#timer.unref();
  }

  /**
   * Stops, and tells the jobs this instance is gone (a clean shutdown, after
   * its servers closed), so that fences do not wait for it; it uses its
   * cache no more.
   */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#unsubscribe?.();
    this.#pins.trustCacheUntil(0);
    await this.#store.addCounters(`instances-left:${Math.floor(Date.now() / SLOT_MS)}`, { [this.id]: 1 }, 3 * SLOT_MS).catch(() => {});
  }

  async #register(): Promise<void> {
    const started = Date.now();
    try {
      await this.#store.addCounters(`instances:${Math.floor(started / SLOT_MS)}`, { [this.id]: 1 }, 3 * SLOT_MS);
      this.#pins.trustCacheUntil(started + TRUST_MS);
    } catch {
      // Not registered: the cache runs out of trust on its own.
    }
  }

  #onEvent(e: ChangeEvent): void {
    if (e.kind !== 'pins' || !Array.isArray(e.keys) || typeof e.fence !== 'string') return;
    for (const key of e.keys) if (typeof key === 'string') this.#pins.forget(key);
    const fence = e.fence;
    // Acknowledged once the requests that may have read a pin before the forget have ended.
    void this.#settle().then(async (settled) => {
      if (!settled) { this.#log.warn({ fence }, 'requests still in flight: pin fence not acknowledged (the job tries again)'); return; }
      await this.#store.addCounters(`fence:${fence}`, { [this.id]: 1 }, 10 * 60_000);
    }).catch((err) => this.#log.warn({ fence, err: (err as Error).message }, 'could not acknowledge a pin fence'));
  }

  /** Instances registered in the current or the previous slot, less those that said they stopped. */
  async #present(): Promise<Set<string>> {
    const slot = Math.floor(Date.now() / SLOT_MS);
    const names = [`instances:${slot}`, `instances:${slot - 1}`, `instances-left:${slot}`, `instances-left:${slot - 1}`];
    const [a, b, leftA, leftB] = await Promise.all(names.map((n) => this.#store.readCounters(n)));
    const present = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const id of [...Object.keys(leftA), ...Object.keys(leftB)]) present.delete(id);
    return present;
  }

  /**
   * Resolves once every registered instance has dropped `keys` from its
   * cache; rejects after `timeoutMs` (nothing may then be moved).
   */
  async fence(keys: readonly string[], timeoutMs = 5_000): Promise<void> {
    const fence = randomUUID();
    const deadline = Date.now() + timeoutMs;
    let published = 0;
    for (;;) {
      if (Date.now() - published >= REPUBLISH_MS) {
        await this.#store.publish({ kind: 'pins', keys: [...keys], fence });
        published = Date.now();
      }
      const [present, acked] = await Promise.all([this.#present(), this.#store.readCounters(`fence:${fence}`)]);
      const missing = [...present].filter((id) => !(id in acked));
      if (missing.length === 0) return;
      if (Date.now() > deadline) throw new Error(`pin fence not acknowledged by ${missing.length} instance(s) within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}
