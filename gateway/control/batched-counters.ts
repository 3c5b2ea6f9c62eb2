/**
 * What the control path's counters (canary gates, console traffic, drain
 * report) share: the data path counts in memory, and a periodic flush adds the
 * batch to the store, so that a request never waits on the store. Each
 * subclass holds its own batch and says how it lands in the store.
 */

/** Counts by name, as added to a counter hash in the store. */
export type Counts = Record<string, number>;

/** Base of a counter that flushes its batch to the store on a timer. */
export abstract class BatchedCounters {
  readonly #everyMs: number;
  #timer?: NodeJS.Timeout;

  /** `everyMs` is the default flush period of `start()`. */
  constructor(everyMs: number) { this.#everyMs = everyMs; }

  /** Flushes every `everyMs`; the timer never keeps the process alive. */
  start(everyMs = this.#everyMs): void {
    this.#timer = setInterval(() => void this.flush(), everyMs);
    this.#timer.unref();
  }

  /** Stops the periodic flush (counts still pending stay in memory). */
  stop(): void { clearInterval(this.#timer); }

  /** Adds the batched counts to the store; a batch the store refused is kept for the next flush. */
  abstract flush(): Promise<void>;
}

/** Adds each count of `from` into `into` and returns `into`. */
export function addCounts(into: Counts, from: Counts): Counts {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
  return into;
}
