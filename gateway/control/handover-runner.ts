/**
 * Runs hand-over jobs (issue 16). Every instance looks for running jobs;
 * one at a time drives each job, holding a lease in the store, and another
 * takes it over when that instance dies. Progress is saved after each batch
 * in the chunk's result document, by compare-and-set: a batch is either
 * recorded once or redone, and a redone batch finds the pins it had moved
 * already on the target (handover-batch.ts), so nothing moves twice. A
 * batch that could not finish (a fence not acknowledged, a freeze that ended
 * before the move) is recorded nowhere and done again.
 */
import type { Logger } from '../log.ts';
import type { Store } from '../store/types.ts';
import { handOverBatch, type BatchDeps, type HandoverRow } from './handover-batch.ts';
import { addCounts, countOf, outName, rowsName, update, zeroCounts, type ChunkOut, type HandoverJobs, type JobDoc } from './handover-jobs.ts';

const LEASE_MS = 3000;
const TICK_MS = 250;
/** Transactions per batch (frozen together, one cache fence). */
export const BATCH = 50;

export class HandoverRunner {
  readonly #store: Store;
  readonly #jobs: HandoverJobs;
  readonly #batch: BatchDeps;
  readonly #owner: string;
  readonly #log: Logger;
  readonly #running = new Set<string>();
  #timer?: NodeJS.Timeout;
  #stopped = false;

  constructor(deps: { store: Store; jobs: HandoverJobs; batch: BatchDeps; owner: string; log: Logger }) {
    this.#store = deps.store; this.#jobs = deps.jobs; this.#batch = deps.batch; this.#owner = deps.owner; this.#log = deps.log;
  }

  start(): void {
    this.#timer = setInterval(() => void this.#tick(), TICK_MS);
    this.#timer.unref();
  }

  stop(): void { this.#stopped = true; clearInterval(this.#timer); }

  /** Takes on every running job no live instance holds. */
  async #tick(): Promise<void> {
    let ids: string[];
    try { ids = await this.#jobs.list(); } catch { return; }
    for (const id of ids) {
      if (this.#running.has(id) || this.#stopped) continue;
      const job = await this.#jobs.get(id).catch(() => null);
      if (job?.state !== 'running') continue;
      if (!await this.#store.acquireLease(`handover:${id}`, this.#owner, LEASE_MS).catch(() => false)) continue;
      this.#running.add(id);
      void this.#drive(id).catch((err) => this.#log.error({ job: id, err: (err as Error).message }, 'hand-over job stopped on an error'))
        .finally(() => { this.#running.delete(id); void this.#store.releaseLease(`handover:${id}`, this.#owner).catch(() => {}); });
    }
  }

  async #drive(id: string): Promise<void> {
    // The first batch after taking a job over may redo one the previous holder moved but did not record.
    let recovering = true;
    while (!this.#stopped) {
      if (!await this.#store.acquireLease(`handover:${id}`, this.#owner, LEASE_MS)) return;
      const job = await this.#jobs.get(id);
      if (job.state !== 'running') return;
      if (job.cursor >= job.chunks) {
        if (job.sealed) { await this.#jobs.finish(id, 'completed'); return; }
        await new Promise((r) => setTimeout(r, TICK_MS));
        continue;
      }
      const rows = (await this.#store.getDoc<HandoverRow[]>(rowsName(id, job.cursor)))!.value;
      const outDoc = await this.#store.getDoc<ChunkOut>(outName(id, job.cursor));
      const out = outDoc?.value ?? { processed: 0, counts: zeroCounts(), differences: [], moved: [] };
      if (out.processed >= rows.length) {
        // The chunk is done: add its counts to the job once, moving the cursor in the same write.
        await update<JobDoc>(this.#store, `handover:${id}`, (j) => (j.cursor === job.cursor ? { ...j, cursor: j.cursor + 1, counts: addCounts(j.counts, out.counts) } : null));
        continue;
      }
      const started = Date.now();
      const batch = rows.slice(out.processed, out.processed + BATCH);
      let results;
      try {
        results = await handOverBatch(this.#batch, batch, { from: job.from, to: job.to, dryRun: job.dryRun, recovering });
      } catch (err) {
        // Nothing moved (a fence not acknowledged, the store away): the same batch again shortly.
        this.#log.warn({ job: id, err: (err as Error).message }, 'hand-over batch not done; trying it again');
        recovering = true;
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      recovering = false;
      const next: ChunkOut = { processed: out.processed + batch.length, counts: { ...out.counts }, differences: [...out.differences], moved: [...out.moved] };
      results.forEach((r, i) => {
        const row = out.processed + i;
        next.counts.done++;
        next.counts[countOf(r.outcome)]++;
        if (r.outcome === 'moved') next.moved.push(row);
        if (r.outcome === 'differing' || r.outcome === 'failed') {
          next.differences.push({ row, merchant: batch[i].merchant, transactionId: batch[i].transactionId, ...(r.reason ? { reason: r.reason } : {}), ...(r.differences ? { differences: r.differences } : {}) });
        }
      });
      if (await this.#store.putDoc(outName(id, job.cursor), next, outDoc?.rev ?? 0) === null) return;
      // Bounded load on the backends: at most ratePerSecond transactions a second.
      const wait = (batch.length / job.ratePerSecond) * 1000 - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
}
