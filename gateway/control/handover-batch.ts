/**
 * One batch of a hand-over (issue 16, docs/handover.md): freeze the pins of
 * each transaction, fence every instance's cache, read the transaction from
 * both backends with the same call, compare, and move the pins of those that
 * agree while the freeze still holds; thaw the others.
 */
import type { ApiVersion, BackendConfig } from '../config.ts';
import { pinKey } from '../pins.ts';
import type { Store } from '../store/types.ts';
import { compareAnswers, type FieldDifference } from './handover-compare.ts';

/** One transaction to hand over, as the operator lists it. */
export interface HandoverRow { merchant: string; apiVersion: ApiVersion; transactionId: string; orderId?: string; idempotencyKey?: string }

export type RowOutcome = 'moved' | 'same' | 'differing' | 'failed' | 'alreadyThere';

export interface RowResult { outcome: RowOutcome; reason?: string; differences?: FieldDifference[] }

/** How long a freeze holds: a follow-up waits at most this long (Retry-After: 1). */
export const FREEZE_MS = 1000;
/** Each backend read must answer well within the freeze. */
const READ_TIMEOUT_MS = 600;

export interface BatchDeps {
  store: Store;
  backends: Readonly<Record<string, BackendConfig>>;
  merchantHeader: string;
  /** Resolves once every instance has dropped these keys from its pin cache (control/pin-fence.ts). */
  fence(keys: string[]): Promise<void>;
}

function keysOf(r: HandoverRow): string[] {
  const keys = [pinKey.transaction(r.transactionId)];
  if (r.orderId) keys.push(pinKey.order(r.merchant, r.orderId));
  if (r.idempotencyKey) keys.push(pinKey.idempotency(r.merchant, r.idempotencyKey));
  return keys;
}

async function read(deps: BatchDeps, backend: string, r: HandoverRow): Promise<{ status: number; body: unknown }> {
  const cfg = deps.backends[backend];
  if (!cfg) return { status: 0, body: null };
  try {
    const res = await fetch(`${cfg.url.replace(/\/$/, '')}/api/${r.apiVersion}/payments/${encodeURIComponent(r.transactionId)}`, {
      headers: { [deps.merchantHeader]: r.merchant, 'x-request-id': `handover-${r.transactionId}` }, signal: AbortSignal.timeout(READ_TIMEOUT_MS),
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  } catch {
    return { status: 0, body: null };
  }
}

/**
 * Hands over `rows` from `from` to `to` (compares only, with `dryRun`).
 * `recovering`: the batch is being redone after the instance running it
 * stopped; a transaction already pinned to `to` was then moved by it.
 */
export async function handOverBatch(deps: BatchDeps, rows: readonly HandoverRow[], job: { from: string; to: string; dryRun: boolean; recovering: boolean }): Promise<RowResult[]> {
  const { store } = deps;
  const { from, to } = job;
  const results: RowResult[] = new Array(rows.length);
  // Every registered instance answers a fence now, before anything is frozen: an instance
  // that died unannounced holds up this empty fence, not the second a freeze lasts.
  await deps.fence([]);
  const until = Date.now() + FREEZE_MS;
  const keys = rows.map(keysOf);
  const frozen = await store.movePins('freeze', keys.flat(), from, to, until, Date.now());
  const live: number[] = [];
  let k = 0;
  for (let i = 0; i < rows.length; i++) {
    const outs = frozen.slice(k, k += keys[i].length);
    if (outs[0] === 'absent') results[i] = { outcome: 'failed', reason: 'no live pin for this transaction' };
    else if (outs[0] === 'elsewhere') {
      const pin = await store.getPin(keys[i][0], Date.now());
      results[i] = pin?.backend === to ? { outcome: job.recovering ? 'moved' : 'alreadyThere' } : { outcome: 'failed', reason: `pinned to ${pin?.backend ?? 'nothing'}, not ${from}` };
    } else if (outs.some((o) => o === 'elsewhere')) results[i] = { outcome: 'failed', reason: 'its order or idempotency-key pin is on another backend' };
    else { keys[i] = keys[i].filter((_, j) => outs[j] === 'done'); live.push(i); }
  }
  const thaw = (idx: number[]) => idx.length ? store.movePins('thaw', idx.flatMap((i) => keys[i]), from, to, until, Date.now()) : Promise.resolve([]);
  // Rows refused at freeze whose other keys were frozen: thaw those keys at once.
  const partly = rows.map((_, i) => i).filter((i) => results[i]?.outcome === 'failed');
  if (partly.length) await store.movePins('thaw', partly.flatMap((i) => keysOf(rows[i])), from, to, until, Date.now());
  if (live.length === 0) return results;
  try {
    await deps.fence(live.flatMap((i) => keys[i]));
  } catch (err) {
    // An instance that stopped without a word stays listed for a few seconds: nothing is
    // recorded, and the runner tries the batch again (handover-runner.ts).
    await thaw(live);
    throw err;
  }
  const agree: number[] = [];
  const differ: number[] = [];
  await Promise.all(live.map(async (i) => {
    const [a, b] = await Promise.all([read(deps, from, rows[i]), read(deps, to, rows[i])]);
    const differences = compareAnswers(rows[i].apiVersion, a, b);
    if (differences.length) { results[i] = { outcome: 'differing', differences }; differ.push(i); } else agree.push(i);
  }));
  if (job.dryRun) {
    for (const i of agree) results[i] = { outcome: 'same' };
    await thaw(live);
    return results;
  }
  await thaw(differ);
  const moved = await store.movePins('move', agree.flatMap((i) => keys[i]), from, to, until, Date.now());
  k = 0;
  const lapsed: number[] = [];
  for (const i of agree) {
    const outs = moved.slice(k, k += keys[i].length);
    if (outs[0] === 'done') results[i] = { outcome: 'moved' };
    else lapsed.push(i);
  }
  if (lapsed.length) {
    // The freeze ended before the move (the reads or the fence were slow): those stay where
    // they are, and the batch is done again, finding the moved ones on the target.
    await thaw(lapsed);
    throw new Error(`the freeze of ${lapsed.length} transaction(s) ended before their move`);
  }
  return results;
}
