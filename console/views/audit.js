/**
 * Audit: every admin change, newest first, filtered by actor and action;
 * a rules change shows what it changed, any other entry its before and after.
 */
import { h, replace, note } from '../dom.js';
import { when, ago } from '../format.js';
import { diffRulesets } from '../ruleset.js';
import { diffList } from './rules.js';

function detail(e) {
  if (e.action.startsWith('rules.') && e.after?.ruleset) {
    const before = e.before?.ruleset ?? { rules: [], default: undefined };
    return [h('p', null, `version ${e.before?.version ?? '–'} → ${e.after.version}`, e.after.comment ? ` · “${e.after.comment}”` : ''), diffList(diffRulesets(before, e.after.ruleset))];
  }
  return h('div', { class: 'before-after' },
    h('div', null, h('h4', null, 'before'), h('pre', null, JSON.stringify(e.before, null, 2))),
    h('div', null, h('h4', null, 'after'), h('pre', null, JSON.stringify(e.after, null, 2))));
}

/** One line saying what an entry did, in words. */
function summary(e) {
  switch (e.action) {
    case 'merchant.put': return `flagged ${e.target} to ${e.after?.backend}${e.after?.comment ? `: ${e.after.comment}` : ''}`;
    case 'merchant.delete': return `unflagged ${e.target} (was ${e.before?.backend})${e.comment ? `: ${e.comment}` : ''}`;
    case 'rules.put': return `rules version ${e.after?.version}${e.after?.comment ? `: ${e.after.comment}` : ''}`;
    case 'rules.rollback': return `rules version ${e.after?.version}: ${e.after?.comment ?? 'rollback'}`;
    default: return e.target ?? '';
  }
}

export default {
  id: 'audit',
  title: 'Audit',
  mount(root, ctx) {
    const status = h('div', { class: 'status' });
    const actor = h('select', { 'aria-label': 'Actor', dataset: { read: '' }, onchange: () => render() });
    const action = h('select', { 'aria-label': 'Action', dataset: { read: '' }, onchange: () => render() });
    const list = h('div');
    let entries = [];
    root.append(h('h2', null, 'Audit'), status,
      h('div', { class: 'inline' }, h('label', null, 'Actor ', actor), h('label', null, 'Action ', action),
        h('button', { type: 'button', dataset: { read: '' }, onclick: () => void load() }, 'Refresh')),
      list);

    const fill = (select, values) => {
      const keep = select.value;
      replace(select, h('option', { value: '' }, 'all'), values.map((v) => h('option', { value: v }, v)));
      select.value = values.includes(keep) ? keep : '';
    };

    function render() {
      const shown = entries.filter((e) => (!actor.value || e.actor === actor.value) && (!action.value || e.action === action.value));
      replace(list, shown.length === 0 ? h('p', { class: 'muted' }, 'No entry.') : h('ol', { class: 'audit' }, shown.map((e) => h('li', { dataset: { actor: e.actor, action: e.action } },
        h('details', null,
          h('summary', null, h('time', { datetime: e.time, title: ago(e.time) }, when(e.time)), ' ', h('strong', null, e.actor), ' ', h('code', null, e.action), ' ', summary(e)),
          detail(e))))));
    }

    async function load() {
      try {
        // The API answers newest first.
        entries = (await ctx.api.get('/admin/audit?limit=1000')).entries;
        fill(actor, [...new Set(entries.map((e) => e.actor))].sort());
        fill(action, [...new Set(entries.map((e) => e.action))].sort());
        render();
        replace(status);
      } catch (err) {
        replace(status, note('error', `Cannot read the audit: ${err.message}`));
      }
    }
    void load();
  },
};
