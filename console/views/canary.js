/**
 * Canary: start a rollout on a split rule from a form; while it runs, the
 * step, the target's weight and each gate's reading against its limit, live,
 * with a chart per gate; pause, resume and abort (SPEC 8).
 */
import { h, replace, note, table, field, problems } from '../dom.js';
import { lineChart } from '../chart.js';
import { percent, when, ago } from '../format.js';

const GATES = [
  { key: 'requests', title: 'Requests in the step window (at least)', limit: (g) => g.minRequests, read: (r) => r.requests, fmt: (v) => String(Math.round(v)), holds: (v, l) => v >= l },
  { key: 'ratio5xx', title: '5xx ratio (at most)', limit: (g) => g.max5xxRatio, read: (r) => r.ratio5xx, fmt: (v) => percent(v, 2), holds: (v, l) => v <= l },
  { key: 'p99Ms', title: 'p99 latency in ms (at most)', limit: (g) => g.maxP99Ms, read: (r) => r.p99Ms, fmt: (v) => `${v} ms`, holds: (v, l) => v <= l },
];
const MAX_POINTS = 1800;

function startForm(ctx, rules, onStarted) {
  const splitRules = rules.rules.filter((r) => r.split && r.split.length >= 2);
  if (splitRules.length === 0) return h('p', null, 'A canary walks the weight of a split rule; the current ruleset has none. Add a rule with a split (Rules view) to start one.');
  const rule = ctx.guard(h('select', { 'aria-label': 'Rule', onchange: () => fillBackends() }, splitRules.map((r) => h('option', { value: r.name }, r.name))));
  const backend = ctx.guard(h('select', { 'aria-label': 'Target backend' }));
  const fillBackends = () => {
    const r = splitRules.find((x) => x.name === rule.value);
    replace(backend, r.split.map((e) => h('option', { value: e.backend }, `${e.backend} (now ${e.weight} %)`)));
    backend.value = r.split.find((e) => e.backend === 'next')?.backend ?? r.split[r.split.length - 1].backend;
  };
  fillBackends();
  const input = (label, value, attrs = {}) => ctx.guard(h('input', { type: 'text', value, 'aria-label': label, ...attrs }));
  const steps = input('Steps', '1, 5, 25, 50, 100');
  const stepSeconds = input('Seconds per step', '300', { inputmode: 'decimal' });
  const max5xx = input('Max 5xx ratio', '0.01', { inputmode: 'decimal' });
  const maxP99 = input('Max p99 ms', '800', { inputmode: 'decimal' });
  const minReq = input('Min requests', '200', { inputmode: 'numeric' });
  const onFail = ctx.guard(h('select', { 'aria-label': 'On a failed gate' }, h('option', { value: 'rollback' }, 'roll back to 0 %'), h('option', { value: 'pause' }, 'pause')));
  const comment = input('Comment', '', { placeholder: 'why' });
  const out = h('div', { class: 'status' });
  const num = (el) => (el.value.trim() === '' ? NaN : Number(el.value));
  const submit = async (e) => {
    e.preventDefault();
    const body = {
      rule: rule.value, backend: backend.value,
      steps: steps.value.split(/[\s,]+/).filter(Boolean).map(Number),
      stepSeconds: num(stepSeconds),
      gates: { max5xxRatio: num(max5xx), maxP99Ms: num(maxP99), minRequests: num(minReq) },
      onFail: onFail.value,
      ...(comment.value.trim() ? { comment: comment.value.trim() } : {}),
    };
    try {
      await ctx.api.call('PUT', '/admin/canary', { body });
      replace(out);
      onStarted();
    } catch (err) {
      replace(out, note('error', `Start refused: ${err.message}`), problems(err));
    }
  };
  return h('form', { class: 'grid-form', 'aria-label': 'Start a canary', onsubmit: submit },
    field('Split rule', rule), field('Target backend', backend), field('Steps (%)', steps, 'the target weight at each step'),
    field('Seconds per step', stepSeconds), field('Max 5xx ratio', max5xx), field('Max p99 (ms)', maxP99),
    field('Min requests per step', minReq), field('On a failed gate', onFail), field('Comment', comment),
    h('div', { class: 'actions' }, ctx.guard(h('button', { type: 'submit', class: 'primary' }, 'Start rollout'))), out);
}

export default {
  id: 'canary',
  title: 'Canary',
  mount(root, ctx) {
    const status = h('div', { class: 'status' });
    const summary = h('div', { class: 'canary-summary' });
    const controls = h('div', { class: 'actions' });
    const gates = h('div', { class: 'gates' });
    const charts = h('div', { class: 'charts' });
    const history = h('div');
    const form = h('div');
    root.append(h('h2', null, 'Canary rollout'), status, summary, controls, gates, charts, h('h3', null, 'History'), history, h('h2', null, 'Start a rollout'), form);

    // One chart per gate, fed by the readings seen while this view is open.
    const points = { time: [], ...Object.fromEntries(GATES.map((g) => [g.key, []])), limits: Object.fromEntries(GATES.map((g) => [g.key, []])) };
    const plots = GATES.map((g) => {
      const box = h('div', { class: 'chart', dataset: { gate: g.key } });
      charts.append(box);
      return lineChart(box, { title: g.title, height: 150, series: [{ label: 'reading' }, { label: 'limit', dash: [6, 4], color: '#888' }] });
    });
    let runId = null;
    let formShownFor = null;

    const act = async (action) => {
      try {
        await ctx.api.call('POST', `/admin/canary/${action}`);
        await poll();
      } catch (err) {
        replace(status, note('error', `${action} refused: ${err.message}`));
      }
    };

    async function poll() {
      const c = await ctx.api.get('/admin/canary');
      if (!ctx.live) return;
      const active = c.state === 'running' || c.state === 'paused';
      replace(summary, c.state === 'idle'
        ? h('p', null, h('span', { class: 'badge', dataset: { field: 'state' } }, 'idle'), ' No rollout has run yet.')
        : h('dl', { class: 'facts' },
          h('dt', null, 'state'), h('dd', null, h('span', { class: ['badge', `state-${c.state}`], dataset: { field: 'state' } }, c.state), c.holding ? ' (holding: gates not met yet)' : ''),
          h('dt', null, 'rule → target'), h('dd', null, `${c.rule} → ${c.backend}`),
          h('dt', null, 'step'), h('dd', { dataset: { field: 'step' } }, `${c.step + 1} of ${c.steps.length} (${c.steps.join(' → ')} %)`),
          h('dt', null, 'weight'), h('dd', { dataset: { field: 'weight' } }, `${c.weight} %`),
          h('dt', null, 'step started'), h('dd', null, `${when(c.stepStartedAt)} (${ago(c.stepStartedAt)}), ${c.stepSeconds} s per step`),
          h('dt', null, 'started by'), h('dd', null, c.startedBy),
          h('dt', null, 'on a failed gate'), h('dd', null, c.onFail)));
      replace(controls, active ? [
        c.state === 'running' ? ctx.guard(h('button', { type: 'button', onclick: () => void act('pause') }, 'Pause')) : null,
        c.state === 'paused' ? ctx.guard(h('button', { type: 'button', onclick: () => void act('resume') }, 'Resume')) : null,
        ctx.guard(h('button', { type: 'button', class: 'danger', onclick: () => void act('abort'), title: ctx.readOnly ? undefined : 'Stops the rollout and puts the split back as it was before it started' }, 'Abort')),
      ] : []);
      if (c.state !== 'idle') {
        const r = c.readings;
        replace(gates, table(['gate', 'reading', 'limit', ''], GATES.map((g) => {
          const v = r ? g.read(r) : null;
          const l = g.limit(c.gates);
          const ok = v === null ? null : g.holds(v, l);
          return h('tr', { dataset: { gate: g.key } }, h('td', null, g.title), h('td', null, v === null ? 'no reading yet' : g.fmt(v)), h('td', null, g.fmt(l)),
            h('td', { class: ok === null ? 'muted' : ok ? 'pass' : 'fail' }, ok === null ? '–' : ok ? 'holds' : 'fails'));
        })));
        const id = `${c.rule}|${c.backend}|${c.history[0]?.time}`;
        if (id !== runId) { runId = id; for (const a of [points.time, ...GATES.map((g) => points[g.key]), ...GATES.map((g) => points.limits[g.key])]) a.length = 0; }
        if (active) {
          points.time.push(Date.now() / 1000);
          for (const g of GATES) { points[g.key].push(r ? g.read(r) : null); points.limits[g.key].push(g.limit(c.gates)); }
          if (points.time.length > MAX_POINTS) for (const a of [points.time, ...GATES.map((g) => points[g.key]), ...GATES.map((g) => points.limits[g.key])]) a.shift();
        }
        GATES.forEach((g, i) => plots[i].set([points.time, points[g.key], points.limits[g.key]]));
        replace(history, table(['time', 'action', 'step', 'weight', 'reason', 'by'], [...c.history].reverse().map((e) => [when(e.time), e.action, String(e.step + 1), `${e.weight} %`, e.reason, e.actor])));
      } else {
        replace(gates);
        replace(history, h('p', { class: 'muted' }, 'Nothing yet.'));
      }
      charts.hidden = c.state === 'idle';
      // The start form only when no rollout is under way; rebuilt when that changes, not at every poll (it would lose typed values).
      const want = active ? 'none' : 'form';
      if (want !== formShownFor) {
        formShownFor = want;
        if (active) replace(form, h('p', { class: 'muted' }, 'A rollout is under way: abort it before starting another.'));
        else replace(form, startForm(ctx, await ctx.api.get('/admin/rules'), () => void poll()));
      }
      replace(status);
    }
    ctx.every(1000, () => poll().catch((err) => replace(status, note('error', `Cannot read the canary: ${err.message}`))));
    return () => plots.forEach((p) => p.destroy());
  },
};
