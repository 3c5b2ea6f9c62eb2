/** Waiting on a condition instead of a fixed sleep. */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Calls `probe` every `everyMs` until `done(value)` holds and answers that
 * value; after `timeoutMs` throws, naming `what` and the last value seen.
 */
export async function waitFor<T>(
  probe: () => Promise<T> | T, done: (value: T) => boolean,
  opts: { what?: string; timeoutMs?: number; everyMs?: number } = {},
): Promise<T> {
  const until = Date.now() + (opts.timeoutMs ?? 5000);
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > until) throw new Error(`${opts.what ?? 'condition'} not met after ${opts.timeoutMs ?? 5000} ms; last: ${JSON.stringify(value)}`);
    await sleep(opts.everyMs ?? 50);
  }
}

/** A promise with its resolve at hand: a gate a test opens, or a signal it awaits. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}
