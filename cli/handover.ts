/**
 * `cutover handover`: streams a file of migrated transactions (CSV with a
 * header line, or JSON lines) to the admin API in batches, resumable by job
 * id, then follows the job with a progress bar on stderr (issue 16).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { UsageError, seg, type AdminClient } from './client.ts';

/** Rows per POST (the API takes at most 5000). */
export const BATCH_ROWS = 1000;
const COLUMNS = ['merchant', 'apiVersion', 'transactionId', 'orderId', 'idempotencyKey'];

/** The file's rows, one object each: JSON lines, or CSV whose header names the columns above. */
export async function* readRows(file: string): AsyncGenerator<Record<string, string>> {
  const lines = createInterface({ input: file === '-' ? process.stdin : createReadStream(file), crlfDelay: Infinity });
  let header: string[] | null = null;
  let n = 0;
  for await (const raw of lines) {
    n++;
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('{')) {
      try { yield JSON.parse(line); } catch { throw new UsageError(`${file}:${n}: not a JSON object`); }
      continue;
    }
    const cells = line.split(',').map((c) => c.trim());
    if (!header) {
      const unknown = cells.filter((c) => !COLUMNS.includes(c));
      if (unknown.length) throw new UsageError(`${file}:1: unknown CSV column(s) ${unknown.join(', ')}; expected a header of ${COLUMNS.join(', ')}`);
      header = cells;
      continue;
    }
    yield Object.fromEntries(header.map((h, i) => [h, cells[i]]).filter(([, v]) => v !== undefined && v !== ''));
  }
}

function bar(s: { done: number; total: number; moved: number; differing: number; failed: number; rate?: number; state: string }): string {
  const width = 30;
  const filled = s.total ? Math.round((s.done / s.total) * width) : 0;
  return `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${s.done}/${s.total} moved ${s.moved} differing ${s.differing} failed ${s.failed} ${s.rate ?? 0}/s ${s.state}   `;
}

/**
 * Sends the file's rows as a new job (or, with `job`, the rows after those the
 * job already has), then follows the job until it ends. Returns its last status.
 */
export async function handover(client: AdminClient, file: string, o: { from?: string; to?: string; dryRun?: boolean; job?: string; rate?: number; follow: boolean }): Promise<any> {
  let job = o.job;
  let skip = 0;
  if (job) {
    const s = (await client.get(`/admin/handover/${seg(job)}`)).body;
    if (s.sealed) throw new UsageError(`job ${job} has all its rows already`);
    skip = s.total;
  } else if (!o.from || !o.to) {
    throw new UsageError('--from and --to are required to start a job');
  }
  let batch: Record<string, string>[] = [];
  let sent = 0;
  const send = async (last: boolean) => {
    if (!job) {
      job = (await client.post('/admin/handover', { from: o.from, to: o.to, dryRun: o.dryRun ?? false, more: !last, transactions: batch, ...(o.rate ? { ratePerSecond: o.rate } : {}) })).body.job;
      process.stderr.write(`job ${job} (resume with --job ${job})\n`);
    } else {
      await client.post(`/admin/handover/${seg(job)}/transactions`, { more: !last, transactions: batch });
    }
    sent += batch.length;
    batch = [];
  };
  let index = 0;
  for await (const row of readRows(file)) {
    if (index++ < skip) continue;
    batch.push(row);
    if (batch.length === BATCH_ROWS) await send(false);
  }
  await send(true);
  process.stderr.write(`sent ${sent} transaction(s)${skip ? ` after the ${skip} the job had` : ''}\n`);
  let s = (await client.get(`/admin/handover/${seg(job!)}`)).body;
  while (o.follow && s.state === 'running') {
    if (process.stderr.isTTY) process.stderr.write(bar(s));
    await new Promise((r) => setTimeout(r, 500));
    s = (await client.get(`/admin/handover/${seg(job!)}`)).body;
  }
  process.stderr.write(`${bar(s)}\n`);
  return s;
}
