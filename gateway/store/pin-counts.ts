/**
 * Live transactions per backend, for the drain report (issue 16), kept by the
 * same store call that writes a transaction's pin: no extra round trip.
 *
 * Counts are bucketed by the slice of time a pin expires in: a slice is a
 * sixteenth of a pin window, between a minute and a day (a day with the
 * default 400-day TTL). A pin counts as live until the end of the slice its
 * expiry falls in, so a count is never below the live pins and at most one
 * slice late in dropping an expired one.
 *
 * On Redis a count is a field `<backendCode>:<slice>` of one count hash,
 * incremented by the pin script that writes the pin: a few hundred fields
 * per backend in all, about nothing per pin. On a Redis Cluster a script
 * touches one slot, so there is one count hash per slot of the pin buckets,
 * named with a hash tag that falls in the same slot.
 */
import calculateSlot from 'cluster-key-slot';
import type { PinLayout } from './pin-layout.ts';

/** Whether a pin key counts as a transaction: only transaction-id pins (see gateway/pins.ts pinKey). */
export function isTransactionKey(key: string): boolean {
  return key.startsWith('t:');
}

/** Seconds in one count slice for a layout. */
export function sliceSeconds(layout: Pick<PinLayout, 'windowSeconds'>): number {
  return Math.min(86_400, Math.max(60, Math.floor(layout.windowSeconds / 16)));
}

/** The slice a pin expiring at `expirySec` is counted in. */
export function sliceOf(expirySec: number, slice: number): number {
  return Math.floor(expirySec / slice);
}

/** The count field of a backend code and slice. */
export function countField(code: number, sliceNo: number): string {
  return `${code}:${sliceNo}`;
}

let slotTags: string[] | null = null;

/** A hash tag for each Cluster slot (found once by trying short names). */
function tagOfSlot(slot: number): string {
  if (!slotTags) {
    const tags: string[] = new Array(16384);
    let left = 16384;
    for (let i = 0; left > 0; i++) {
      const tag = `c${i.toString(36)}`;
      const s = calculateSlot(tag);
      if (tags[s] === undefined) { tags[s] = tag; left--; }
    }
    slotTags = tags;
  }
  return slotTags[slot];
}

/** The count hash for pins of `bucket`: one for the store, or on a Cluster one in the bucket's slot. */
export function countKey(prefix: string, bucket: number, cluster: boolean): string {
  return cluster ? `${prefix}pincount:{${tagOfSlot(calculateSlot(`{${bucket}}`))}}` : `${prefix}pincount`;
}

/** Live pins of one backend: the total, and by the month (UTC, `YYYY-MM`) their slice ends in. */
export interface BackendPinCount { live: number; expiring: Record<string, number> }

/** Adds `n` pins of one slice to a tally when the slice still counts at `nowSec`. */
export function tally(into: Record<string, BackendPinCount>, backend: string, sliceNo: number, n: number, slice: number, nowSec: number): void {
  const endSec = (sliceNo + 1) * slice;
  if (n === 0 || endSec <= nowSec) return;
  const t = into[backend] ??= { live: 0, expiring: {} };
  t.live += n;
  const month = new Date(Math.max(nowSec, sliceNo * slice) * 1000).toISOString().slice(0, 7);
  t.expiring[month] = (t.expiring[month] ?? 0) + n;
}

