/**
 * Drain and hand-over: per backend, what still lives there and whether it is
 * still served (the switch-off warnings first); hand-over jobs with their
 * progress and differences, steered after a confirmation that says what the
 * action does, and a small form to start one (SPEC 11, issue 16).
 */
import { h, replace, note, table, field, problems } from '../dom.js';
import { count, when, ago, json } from '../format.js';
import { seg } from '../api.js';

const JOBS_SHOWN = 20;
const DIFFERENCES_SHOWN = 200;
const BATCH_ROWS = 5000; // the most POST /admin/handover takes in one call
const FINAL = new Set(['aborted', 'failed', 'reversed']); // states a job never leaves
const COLUMNS = ['merchant', 'apiVersion', 'transactionId', 'orderId', 'idempotencyKey'];

/** One CSV line's cells (RFC 4180 quoting). */
function csvCells(line) {
  const cells = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (c === '"') quoted = false; else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { cells.push(cur); cur = ''; } else cur += c;
  }
  cells.push(cur);
  return cells.map((s) => s.trim());
}

/** Rows from pasted JSON lines, or CSV with the CLI's header; the server validates each row. */
export function parseRows(text) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) return [];
  if (lines[0].trim().startsWith('{')) return lines.map((l, i) => { try { return JSON.parse(l); } catch { throw new Error(`line ${i + 1} is not JSON`); } });
  const header = csvCells(lines[0]);
  const unknown = header.filter((c) => !COLUMNS.includes(c));
  if (unknown.length || !header.includes('merchant')) throw new Error(`the first line must be a header of ${COLUMNS.join(',')} (the last two optional)`);
  return lines.slice(1).map((l) => {
    const cells = csvCells(l);
    return Object.fromEntries(header.map((k, i) => [k, cells[i] ?? '']).filter(([, v]) => v !== ''));
  });
}

function verdictBadge(b) {
  const text = b.verdict === 'idle' ? (b.idleSince ? `idle since ${when(b.idleSince)}` : 'idle (never followed up)') : b.verdict;
  return h('span', { class: ['badge', `verdict-${b.verdict}`], dataset: { field: 'verdict' } }, text);
}

function backendCard(name, b, opened) {
  const stat = (label, key, value) => h('div', { class: 'stat' }, h('span', { class: 'label' }, label), h('span', { class: 'value', dataset: { field: key } }, value));
  const expiring = b.expiring.filter((e) => e.pins > 0);
  return h('article', { class: ['card', b.verdict === 'draining' ? 'warn' : null, b.configured ? null : 'alarm'], dataset: { backend: name } },
    h('h3', null, name, verdictBadge(b), b.configured ? null : h('span', { class: 'badge state-aborted' }, 'NOT CONFIGURED')),
    h('p', { class: 'muted', dataset: { field: 'reason' } }, b.reason),
    h('div', { class: 'stats' },
      stat('live transactions', 'livePins', count(b.livePins)),
      stat('new, last hour', 'newHour', count(b.newTransactions.hour)),
      stat('new, last day', 'newDay', count(b.newTransactions.day)),
      stat('follow-ups, hour', 'followUpsHour', count(b.followUps.hour)),
      stat('follow-ups, day', 'followUpsDay', count(b.followUps.day)),
      stat('follow-ups, week', 'followUpsWeek', count(b.followUps.week)),
      h('div', { class: 'stat wide' }, h('span', { class: 'label' }, 'last follow-up'),
        h('span', { dataset: { field: 'lastFollowUpAt' } }, b.lastFollowUpAt ? `${when(b.lastFollowUpAt)} (${ago(b.lastFollowUpAt)})` : 'none'))),
    expiring.length
      ? h('details', { class: 'expiring', open: opened.has(name), ontoggle: (e) => (e.target.open ? opened.add(name) : opened.delete(name)) }, h('summary', null, `Live transactions by month of expiry (${expiring.length} ${expiring.length === 1 ? 'month' : 'months'})`),
        table(['month (UTC)', 'expiring'], expiring.map((e) => [e.month, count(e.pins)])))
      : null);
}

function progress(j) {
  const pct = j.total > 0 ? Math.floor((j.done / j.total) * 100) : 0;
  return h('td', { class: 'progress' },
    h('progress', { max: String(Math.max(j.total, 1)), value: String(j.done), 'aria-label': `Progress of ${j.job}` }),
    h('span', { dataset: { field: 'done' } }, ` ${count(j.done)} / ${count(j.total)}${j.sealed ? '' : '+'} (${pct} %)`));
}

/** What each action does, said in the confirmation before it is sent. */
const ACTIONS = {
  pause: { label: 'Pause', says: (j) => `The job stops after its current batch. Nothing stays frozen while it is paused; ${count(j.total - j.done)} transactions wait on ${j.from} until you resume.` },
  resume: { label: 'Resume', says: (j) => `The job continues where it stopped: ${count(j.total - j.done)} transactions left, compared on ${j.from} and ${j.to}${j.dryRun ? ' (dry run: nothing moves)' : ' and moved when both agree'}.` },
  abort: { label: 'Abort', says: (j) => `The job ends for good after its current batch. The ${count(j.moved)} transactions already moved stay on ${j.to}; the ${count(j.total - j.done)} not yet handled stay on ${j.from}. An aborted job cannot be resumed or reversed.` },
  reverse: { label: 'Reverse', says: (j) => `A new job compares again the ${count(j.moved)} transactions this job moved and moves each back from ${j.to} to ${j.from} when both backends still agree. Follow-ups go to ${j.from} again once each is moved back.` },
};

function startForm(ctx, backends, onStarted) {
  const names = Object.entries(backends).filter(([, b]) => b.configured).map(([n]) => n);
  const select = (label, pick) => ctx.guard(h('select', { 'aria-label': label }, names.map((n) => h('option', { value: n, selected: n === pick }, n))));
  const from = select('From backend', names.includes('legacy') ? 'legacy' : names[0]);
  const to = select('To backend', names.includes('next') ? 'next' : names[1]);
  const dryRun = ctx.guard(h('input', { type: 'checkbox', 'aria-label': 'Dry run', checked: true }));
  const rate = ctx.guard(h('input', { type: 'text', inputmode: 'numeric', 'aria-label': 'Rate per second', placeholder: 'gateway default' }));
  const rows = ctx.guard(h('textarea', { class: 'code rows', rows: 6, spellcheck: 'false', 'aria-label': 'Transactions',
    placeholder: 'merchant,apiVersion,transactionId,orderId\nM-1001,v1,2026113022001,ORD-1\n\nor JSON lines: {"merchant":"M-1001","apiVersion":"v1","transactionId":"…"}' }));
  const out = h('div', { class: 'status' });
  const submit = async (e) => {
    e.preventDefault();
    let list;
    try { list = parseRows(rows.value); } catch (err) { replace(out, note('error', `Cannot read the transactions: ${err.message}`)); return; }
    if (list.length === 0) { replace(out, note('error', 'Paste the transactions whose data is on the target (CSV with a header, or JSON lines).')); return; }
    const base = { from: from.value, to: to.value, dryRun: dryRun.checked, ...(rate.value.trim() ? { ratePerSecond: Number(rate.value) } : {}) };
    const batches = [];
    for (let i = 0; i < list.length; i += BATCH_ROWS) batches.push(list.slice(i, i + BATCH_ROWS));
    let job = null;
    start.disabled = true; // one click, one job
    try {
      ({ job } = (await ctx.api.call('POST', '/admin/handover', { body: { ...base, transactions: batches[0], ...(batches.length > 1 ? { more: true } : {}) } })).data);
      for (let i = 1; i < batches.length; i++) {
        await ctx.api.call('POST', `/admin/handover/${seg(job)}/transactions`, { body: { transactions: batches[i], ...(i < batches.length - 1 ? { more: true } : {}) } });
      }
      replace(out, note('ok', `Started ${job}: ${count(list.length)} transactions, ${base.from} → ${base.to}${base.dryRun ? ', dry run' : ''}.`));
      onStarted(job);
    } catch (err) {
      const what = job ? `Job ${job} started, but a later batch was refused (send the rest with cutover handover FILE --job ${job}): ` : 'Start refused: ';
      replace(out, note('error', what, err.message), problems(err, 20));
      if (job) onStarted(job);
    } finally {
      start.disabled = false;
    }
  };
  const start = ctx.guard(h('button', { type: 'submit', class: 'primary' }, 'Start hand-over'));
  return h('form', { class: 'grid-form', 'aria-label': 'Start a hand-over', onsubmit: submit },
    field('From', from), field('To', to), field('Rate (transactions/s)', rate),
    h('label', { class: 'field check' }, dryRun, h('span', null, 'Dry run: compare only, move nothing')),
    h('div', { class: 'wide' }, field('Transactions whose data is on the target', rows, 'CSV (header merchant,apiVersion,transactionId,orderId,idempotencyKey) or JSON lines. For files of millions of rows: cutover handover FILE --from --to.')),
    h('div', { class: 'actions' }, start), out);
}

export default {
  id: 'drain',
  title: 'Drain and hand-over',
  mount(root, ctx) {
    const warnings = h('div', { class: 'drain-warnings' });
    const generated = h('p', { class: 'muted' });
    const cards = h('div', { class: 'cards' });
    const status = h('div', { class: 'status' });
    const jobsError = h('div', { class: 'status' });
    const jobsBox = h('div');
    const detail = h('div', { class: 'job-detail' });
    const form = h('div');
    const dialog = h('dialog', { class: 'confirm' });
    root.append(warnings, h('h2', null, 'Drain report'), generated, cards, h('h2', null, 'Hand-over jobs'), status, jobsError, jobsBox, detail, h('h2', null, 'Start a hand-over'), form, dialog);
    const cache = new Map(); // final jobs are read once
    let selected = null;
    let formBuilt = false;
    let shownKey = null;
    const expiringOpen = new Set(); // cards are redrawn at every poll: an opened expiry table stays open

    async function pollDrain() {
      const r = await ctx.api.get('/admin/drain');
      if (!ctx.live) return;
      replace(warnings, r.warnings.map((w) => note('error', w)));
      replace(generated, `As of ${when(r.generatedAt)}, from every instance. `, h('span', null, 'A backend can be switched off when it is idle and owns no live transactions.'));
      replace(cards, Object.entries(r.backends).map(([name, b]) => backendCard(name, b, expiringOpen)));
      if (!formBuilt) { formBuilt = true; replace(form, startForm(ctx, r.backends, (job) => { selected = job; void pollJobs(); })); }
    }

    async function readJob(id) {
      if (cache.has(id)) return cache.get(id);
      const j = await ctx.api.get(`/admin/handover/${seg(id)}`);
      if (FINAL.has(j.state)) cache.set(id, j);
      return j;
    }

    async function pollJobs() {
      const ids = (await ctx.api.get('/admin/handover')).jobs.slice(-JOBS_SHOWN).reverse();
      const jobs = await Promise.all(ids.map(readJob));
      if (!ctx.live) return;
      replace(jobsBox, jobs.length === 0
        ? h('p', { class: 'muted' }, 'No hand-over yet. Start one below, or with cutover handover FILE --from legacy --to next.')
        : table(['job', 'from → to', 'state', 'progress', 'moved', 'differing', 'failed', 'rate', 'started', ''], jobs.map((j) => h('tr', { dataset: { job: j.job } },
          h('td', null, h('code', null, j.job), j.dryRun ? h('span', { class: 'badge' }, 'dry run') : null, j.reverseOf ? h('span', { class: 'badge' }, `reverses ${j.reverseOf}`) : null),
          h('td', null, `${j.from} → ${j.to}`),
          h('td', null, h('span', { class: ['badge', `state-${j.state}`], dataset: { field: 'state' } }, j.state)),
          progress(j),
          h('td', { dataset: { field: 'moved' } }, j.dryRun ? `– (${count(j.same)} agree)` : count(j.moved)),
          h('td', { class: j.differing ? 'drift' : null, dataset: { field: 'differing' } }, count(j.differing)),
          h('td', { class: j.failed ? 'fail' : null, dataset: { field: 'failed' } }, count(j.failed)),
          h('td', null, `${j.rate}/s`),
          h('td', null, `${when(j.createdAt)} by ${j.actor}`),
          h('td', { class: 'row-actions' },
            h('button', { type: 'button', dataset: { read: '' }, onclick: () => { selected = j.job; renderDetail(j); } }, 'Details'),
            j.state === 'running' ? ctx.guard(h('button', { type: 'button', onclick: () => confirmAction(j, 'pause') }, 'Pause')) : null,
            j.state === 'paused' ? ctx.guard(h('button', { type: 'button', onclick: () => confirmAction(j, 'resume') }, 'Resume')) : null,
            j.state === 'running' || j.state === 'paused' ? ctx.guard(h('button', { type: 'button', class: 'danger', onclick: () => confirmAction(j, 'abort') }, 'Abort')) : null,
            j.state === 'completed' && !j.dryRun && j.moved > 0 ? ctx.guard(h('button', { type: 'button', onclick: () => confirmAction(j, 'reverse') }, 'Reverse')) : null))), { class: 'jobs' }));
      const shown = jobs.find((j) => j.job === selected);
      if (shown) renderDetail(shown); else { shownKey = null; replace(detail); }
      replace(jobsError);
    }

    function renderDetail(j) {
      const key = `${j.job}|${j.state}|${j.done}|${j.differencesTotal}`;
      if (key === shownKey) return; // unchanged: keep the table (and a button under the pointer) as it is
      shownKey = key;
      const diffs = j.differences.slice(0, DIFFERENCES_SHOWN);
      const rows = diffs.flatMap((d) => (d.differences?.length ? d.differences : [{ field: '', from: '', to: '' }]).map((f) => [
        d.merchant, h('td', null, h('code', null, d.transactionId)), d.reason ?? 'differing', f.field,
        typeof f.from === 'string' ? f.from : json(f.from), typeof f.to === 'string' ? f.to : json(f.to)]));
      replace(detail, h('h3', null, `Differences of ${j.job}`),
        h('p', { class: 'muted' }, `${count(j.differencesTotal)} transactions differ or failed; they were left on ${j.from}.`,
          j.differencesTotal > diffs.length ? ` The first ${diffs.length} are shown; the CSV has them all.` : '', ' ',
          h('button', { type: 'button', dataset: { read: '' }, onclick: () => void download(j.job) }, 'Download differences.csv')),
        rows.length ? table(['merchant', 'transaction', 'reason', 'field', j.from, j.to], rows, { class: 'differences' }) : h('p', { class: 'muted' }, 'No differences.'));
    }

    // The token is not a cookie, so a plain link cannot carry it: fetch with it, then hand the browser a blob.
    async function download(job) {
      try {
        const blob = await ctx.api.blob(`/admin/handover/${seg(job)}/differences.csv`);
        const url = URL.createObjectURL(blob);
        const a = h('a', { href: url, download: `${job}-differences.csv`, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
      } catch (err) {
        replace(status, note('error', `Cannot download the differences: ${err.message}`));
      }
    }

    function confirmAction(j, action) {
      const a = ACTIONS[action];
      replace(dialog,
        h('h3', null, `${a.label} hand-over ${j.job} (${j.from} → ${j.to})?`),
        h('p', null, a.says(j)),
        h('div', { class: 'actions' },
          h('button', { type: 'button', dataset: { read: '' }, onclick: () => dialog.close() }, 'Cancel'),
          ctx.guard(h('button', { type: 'button', class: action === 'abort' ? 'danger' : 'primary', onclick: () => void act(j, action) }, `${a.label} ${j.job}`))));
      dialog.showModal();
    }

    async function act(j, action) {
      try {
        const { data } = await ctx.api.call('POST', `/admin/handover/${seg(j.job)}/${action}`);
        dialog.close();
        if (action === 'reverse') { cache.delete(j.job); selected = data.job; }
        replace(status, note('ok', action === 'reverse' ? `Reversing ${j.job} as job ${data.job}.` : `${j.job} is ${data.state}.`));
      } catch (err) {
        dialog.close();
        replace(status, note('error', `${ACTIONS[action].label} refused: ${err.message}`));
      }
      await pollJobs().catch(() => {});
    }

    ctx.every(2000, () => pollDrain().catch((err) => replace(warnings, note('error', `Cannot read the drain report: ${err.message}`))));
    ctx.every(1000, () => pollJobs().catch((err) => replace(jobsError, note('error', `Cannot read the hand-over jobs: ${err.message}`))));
  },
};
