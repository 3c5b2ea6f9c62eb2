/**
 * Verified hand-over on the admin port (issue 16, SPEC 11): start a job
 * (rows in one or several batches), follow it, steer it, reverse it, and
 * read its differences as CSV.
 */
import express, { Router, type Request } from 'express';
import { GatewayError } from '../gateway/errors.ts';
import { check } from '../gateway/schemas.ts';
import type { Principal } from '../gateway/control/auth.ts';
import type { HandoverJobs, JobDoc } from '../gateway/control/handover-jobs.ts';
import type { HandoverRow } from '../gateway/control/handover-batch.ts';
import { addCounts } from '../gateway/control/handover-jobs.ts';
import { requireAdmin, viaStore } from './drain.ts';

/** Differences listed in GET /admin/handover/{job}; the CSV has them all. */
const LISTED_DIFFERENCES = 1000;

function body(req: Request): { from?: string; to?: string; dryRun?: boolean; more?: boolean; ratePerSecond?: number; transactions: HandoverRow[] } {
  const problems = check('handover', req.body);
  if (problems.length) throw new GatewayError('invalid_handover', { details: problems });
  return req.body;
}

async function status(jobs: HandoverJobs, job: JobDoc) {
  const outs = await jobs.outs(job);
  const current = job.cursor < outs.length ? outs[job.cursor].counts : undefined;
  const c = current ? addCounts(job.counts, current) : job.counts;
  const differences = outs.flatMap((o) => o.differences);
  const seconds = ((job.finishedAt ? Date.parse(job.finishedAt) : Date.now()) - job.startedAt) / 1000;
  return {
    job: job.job, state: job.state, total: job.received, done: c.done, moved: c.moved, differing: c.differing, failed: c.failed,
    differences: differences.slice(0, LISTED_DIFFERENCES),
    from: job.from, to: job.to, dryRun: job.dryRun, same: c.same, alreadyThere: c.alreadyThere, sealed: job.sealed,
    rate: seconds > 0 ? Math.round((c.done / seconds) * 10) / 10 : 0, ratePerSecond: job.ratePerSecond,
    actor: job.actor, createdAt: job.createdAt, ...(job.finishedAt ? { finishedAt: job.finishedAt } : {}),
    ...(job.reverseOf ? { reverseOf: job.reverseOf } : {}), ...(job.reversedBy ? { reversedBy: job.reversedBy } : {}),
    differencesListed: Math.min(differences.length, LISTED_DIFFERENCES), differencesTotal: differences.length,
  };
}

const csvCell = (v: unknown) => { const s = typeof v === 'string' ? v : JSON.stringify(v ?? ''); return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s; };

export function handoverRouter(deps: { authenticate: (header: string | undefined) => Principal | null; jobs: HandoverJobs }): Router {
  const { jobs } = deps;
  const router = Router({ caseSensitive: true, strict: true });
  router.use('/admin/handover', requireAdmin(deps.authenticate), express.json({ limit: '4mb', strict: true, type: () => true }));
  const actor = (req: Request) => req.principal!.name;

  router.post('/admin/handover', async function startHandover(req, res) {
    const b = body(req);
    if (!b.from || !b.to) throw new GatewayError('invalid_handover', { details: [{ path: '/from', message: 'from and to are required' }] });
    const job = await viaStore(() => jobs.create({ from: b.from!, to: b.to!, dryRun: b.dryRun ?? false, rows: b.transactions, sealed: !b.more, ratePerSecond: b.ratePerSecond }, actor(req)));
    res.status(202).json({ job: job.job });
  });

  router.post('/admin/handover/:job/transactions', async function appendRows(req, res) {
    const b = body(req);
    const job = await viaStore(() => jobs.append(req.params.job, b.transactions, !b.more));
    res.status(202).json({ job: job.job, received: job.received });
  });

  router.get('/admin/handover', async function listJobs(_req, res) {
    res.json({ jobs: await viaStore(() => jobs.list()) });
  });

  router.get('/admin/handover/:job', async function getJob(req, res) {
    res.json(await viaStore(async () => status(jobs, await jobs.get(req.params.job))));
  });

  router.get('/admin/handover/:job/differences.csv', async function differencesCsv(req, res) {
    const job = await viaStore(() => jobs.get(req.params.job));
    const outs = await viaStore(() => jobs.outs(job));
    const lines = ['row,merchant,transactionId,reason,field,from,to'];
    for (const d of outs.flatMap((o) => o.differences)) {
      for (const f of d.differences ?? [{ field: '', from: '', to: '' }]) {
        lines.push([d.row, d.merchant, d.transactionId, d.reason ?? 'differing', f.field, f.from, f.to].map(csvCell).join(','));
      }
    }
    res.setHeader('content-type', 'text/csv; charset=utf-8');
    res.end(`${lines.join('\n')}\n`);
  });

  for (const action of ['pause', 'resume', 'abort'] as const) {
    router.post(`/admin/handover/:job/${action}`, async function act(req, res) {
      const job = await viaStore(() => jobs.act(req.params.job as string, action, actor(req)));
      res.json(await status(jobs, job));
    });
  }

  router.post('/admin/handover/:job/reverse', async function reverse(req, res) {
    const job = await viaStore(() => jobs.get(req.params.job));
    if (job.state !== 'completed' || job.dryRun) throw new GatewayError('handover_conflict', { message: `Only a completed hand-over that moved pins can be reversed; job ${job.job} is ${job.state}${job.dryRun ? ' (dry run)' : ''}` });
    const rows = await viaStore(() => jobs.movedRows(job));
    const rev = await viaStore(() => jobs.create({ from: job.to, to: job.from, dryRun: false, rows, sealed: true, reverseOf: job.job, ratePerSecond: job.ratePerSecond }, actor(req)));
    res.status(202).json({ job: rev.job, reverseOf: job.job });
  });
  return router;
}
