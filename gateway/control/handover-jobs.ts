/**
 * Hand-over jobs in the store (issue 16): the job document, its rows in
 * chunks, and each chunk's results. Every write is compare-and-set, so any
 * instance may take a job over and nothing is counted twice (see
 * handover-runner.ts). Created, appended to and steered through the admin API.
 */
import { randomUUID } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import type { AuditEntry, Store } from '../store/types.ts';
import type { HandoverRow, RowOutcome } from './handover-batch.ts';
import type { FieldDifference } from './handover-compare.ts';

export type JobState = 'running' | 'paused' | 'completed' | 'aborted' | 'failed' | 'reversed';
export type Counts = Record<'done' | 'moved' | 'differing' | 'failed' | 'same' | 'alreadyThere', number>;

export interface JobDoc {
  job: string; from: string; to: string; dryRun: boolean; state: JobState; actor: string;
  createdAt: string; startedAt: number; finishedAt?: string;
  /** Rows received, in `chunks` chunk documents; `sealed` once the last batch came. */
  received: number; chunks: number; sealed: boolean;
  /** Chunks fully processed, and their counts. */
  cursor: number; counts: Counts;
  ratePerSecond: number; reverseOf?: string; reversedBy?: string;
}

export interface Difference { row: number; merchant: string; transactionId: string; reason?: string; differences?: FieldDifference[] }

/** Results of one chunk: how many of its rows are processed, their counts, differences and moved row numbers. */
export interface ChunkOut { processed: number; counts: Counts; differences: Difference[]; moved: number[] }

export const zeroCounts = (): Counts => ({ done: 0, moved: 0, differing: 0, failed: 0, same: 0, alreadyThere: 0 });
export const addCounts = (a: Counts, b: Counts): Counts => Object.fromEntries(Object.keys(a).map((k) => [k, a[k as keyof Counts] + b[k as keyof Counts]])) as Counts;
export const countOf = (o: RowOutcome): keyof Counts => o;

const jobName = (id: string) => `handover:${id}`;
export const rowsName = (id: string, n: number) => `handover:${id}:rows:${n}`;
export const outName = (id: string, n: number) => `handover:${id}:out:${n}`;
const INDEX = 'handover:index';
/** Rows per stored chunk. */
const CHUNK_ROWS = 1000;

/** Updates a document by compare-and-set, retrying on a concurrent write. */
export async function update<T>(store: Store, name: string, fn: (cur: T) => T | null): Promise<T | null> {
  for (let i = 0; i < 50; i++) {
    const cur = await store.getDoc<T>(name);
    if (!cur) return null;
    const next = fn(cur.value);
    if (next === null) return cur.value;
    if (await store.putDoc(name, next, cur.rev) !== null) return next;
  }
  throw new Error(`${name} kept changing under the update`);
}

export class HandoverJobs {
  readonly #store: Store;
  readonly #backends: () => string[];
  readonly #rate: number;

  constructor(store: Store, backends: () => string[], ratePerSecond: number) {
    this.#store = store; this.#backends = backends; this.#rate = ratePerSecond;
  }

  async #audit(actor: string, action: string, target: string, before: unknown, after: unknown): Promise<void> {
    const entry: AuditEntry = { time: new Date().toISOString(), actor, action, target, before, after };
    await this.#store.appendAudit(entry).catch(() => {});
  }

  async get(id: string): Promise<JobDoc> {
    const d = await this.#store.getDoc<JobDoc>(jobName(id));
    if (!d) throw new GatewayError('handover_not_found', { message: `No hand-over job ${id}` });
    return d.value;
  }

  /** Job ids, oldest first. */
  async list(): Promise<string[]> {
    return (await this.#store.getDoc<string[]>(INDEX))?.value ?? [];
  }

  /** A new job; `sealed` false when more batches of rows follow (`append`). */
  async create(spec: { from: string; to: string; dryRun: boolean; rows: HandoverRow[]; sealed: boolean; reverseOf?: string; ratePerSecond?: number }, actor: string): Promise<JobDoc> {
    const names = this.#backends();
    if (!names.includes(spec.from) || !names.includes(spec.to) || spec.from === spec.to) {
      throw new GatewayError('invalid_handover', { message: 'from and to must be two different configured backends' });
    }
    const id = `ho_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    const doc: JobDoc = {
      job: id, from: spec.from, to: spec.to, dryRun: spec.dryRun, state: 'running', actor, createdAt: new Date().toISOString(), startedAt: Date.now(),
      received: 0, chunks: 0, sealed: false, cursor: 0, counts: zeroCounts(), ratePerSecond: spec.ratePerSecond ?? this.#rate,
      ...(spec.reverseOf ? { reverseOf: spec.reverseOf } : {}),
    };
    await this.#store.putDoc(jobName(id), doc, 0);
    await update<string[]>(this.#store, INDEX, (ids) => [...ids, id]) ?? await this.#store.putDoc(INDEX, [id], 0);
    await this.#audit(actor, spec.reverseOf ? 'handover.reverse' : 'handover.start', id, null, { from: doc.from, to: doc.to, dryRun: doc.dryRun });
    return this.append(id, spec.rows, spec.sealed);
  }

  /** Adds a batch of rows (chunks of at most CHUNK_ROWS); `last` seals the job. */
  async append(id: string, rows: HandoverRow[], last: boolean): Promise<JobDoc> {
    const job = await this.get(id);
    if (job.sealed) throw new GatewayError('handover_conflict', { message: `Job ${id} has all its rows already` });
    let doc = job;
    for (let i = CHUNK_ROWS; i < rows.length; i += CHUNK_ROWS) doc = await this.#appendChunk(id, rows.slice(i - CHUNK_ROWS, i), false);
    return rows.length > CHUNK_ROWS ? this.#appendChunk(id, rows.slice(Math.floor((rows.length - 1) / CHUNK_ROWS) * CHUNK_ROWS), last) : this.#appendChunk(id, rows, last).then((d) => d ?? doc);
  }

  async #appendChunk(id: string, rows: HandoverRow[], last: boolean): Promise<JobDoc> {
    for (;;) {
      const cur = await this.#store.getDoc<JobDoc>(jobName(id));
      const n = cur!.value.chunks;
      if (rows.length > 0 && await this.#store.putDoc(rowsName(id, n), rows, 0) === null) continue;
      const next: JobDoc = { ...cur!.value, chunks: n + (rows.length > 0 ? 1 : 0), received: cur!.value.received + rows.length, sealed: last };
      if (await this.#store.putDoc(jobName(id), next, cur!.rev) !== null) return next;
    }
  }

  /** pause | resume | abort, with an audit entry. */
  async act(id: string, action: 'pause' | 'resume' | 'abort', actor: string): Promise<JobDoc> {
    const allowed: Record<typeof action, JobState[]> = { pause: ['running'], resume: ['paused'], abort: ['running', 'paused'] };
    const target: Record<typeof action, JobState> = { pause: 'paused', resume: 'running', abort: 'aborted' };
    const before = await this.get(id);
    const after = await update<JobDoc>(this.#store, jobName(id), (j) => {
      if (!allowed[action].includes(j.state)) throw new GatewayError('handover_conflict', { message: `Job ${id} is ${j.state}; cannot ${action}` });
      return { ...j, state: target[action] };
    });
    await this.#audit(actor, `handover.${action}`, id, { state: before.state }, { state: after!.state });
    return after!;
  }

  /** Ends a job (completed or failed); a completed reverse marks its original `reversed`. */
  async finish(id: string, state: 'completed' | 'failed'): Promise<void> {
    const done = await update<JobDoc>(this.#store, jobName(id), (j) => (j.state === 'running' ? { ...j, state, finishedAt: new Date().toISOString() } : null));
    await this.#audit('handover', `handover.${state}`, id, null, done?.counts);
    if (state === 'completed' && done?.reverseOf) {
      await update<JobDoc>(this.#store, jobName(done.reverseOf), (j) => ({ ...j, state: 'reversed', reversedBy: id }));
    }
  }

  /** Every chunk's results so far (the current chunk's included). */
  async outs(job: JobDoc): Promise<ChunkOut[]> {
    const n = Math.min(job.cursor + 1, job.chunks);
    const all = await Promise.all(Array.from({ length: n }, (_, i) => this.#store.getDoc<ChunkOut>(outName(job.job, i))));
    return all.map((d) => d?.value ?? { processed: 0, counts: zeroCounts(), differences: [], moved: [] });
  }

  /** The rows a completed job moved, for its reverse. */
  async movedRows(job: JobDoc): Promise<HandoverRow[]> {
    const outs = await this.outs(job);
    const out: HandoverRow[] = [];
    for (let i = 0; i < outs.length; i++) {
      const rows = (await this.#store.getDoc<HandoverRow[]>(rowsName(job.job, i)))?.value ?? [];
      for (const r of outs[i].moved) out.push(rows[r]);
    }
    return out;
  }
}
