/**
 * Rules: the current ruleset as a table, its history with the difference
 * between any two versions, an editor (JSON or YAML, validated by the
 * server, saved with If-Match so a stale edit is refused with 409 and shown
 * as a conflict with what changed), and rollback after a confirmation that
 * names what changes.
 */
import { parse as parseYaml, stringify as toYaml } from '../../vendor/yaml/index.js';
import { h, replace, note, table, field, problems } from '../dom.js';
import { ApiError } from '../api.js';
import { when } from '../format.js';
import { describeMatch, describeTarget, diffRulesets, rulesetOf } from '../ruleset.js';

/** The list of changes from one ruleset to another, or a line saying there is none. */
export function diffList(changes, emptyText = 'No difference.') {
  if (changes.length === 0) return h('p', { class: 'muted' }, emptyText);
  return h('ul', { class: 'diff' }, changes.map((c) => h('li', { class: `diff-${c.kind}` }, c.text)));
}

function rulesTable(current) {
  return table(['#', 'rule', 'matches', 'new transactions go to', 'sticky by', 'failover'], [
    ...current.rules.map((r, i) => [String(i + 1), h('code', null, r.name), describeMatch(r.match), describeTarget(r), r.stickyBy ?? '–', r.failover ?? '–']),
    [h('td', null, ''), h('td', null, h('em', null, 'default')), 'anything no rule matched', current.default, '–', '–'],
  ], { class: 'rules', dataset: { version: current.version } });
}

export default {
  id: 'rules',
  title: 'Rules',
  mount(root, ctx) {
    const head = h('div');
    const current = h('div');
    const editor = h('div', { class: 'editor' });
    const history = h('div');
    const compare = h('div', { class: 'compare' });
    const dialog = h('dialog', { class: 'confirm' });
    const status = h('div', { class: 'status' });
    root.append(head, status, current, editor, h('h2', null, 'History'), compare, history, dialog);
    let cur = null;
    let versions = [];
    const getVersion = (n) => (n === cur?.version ? Promise.resolve(cur) : ctx.api.get(`/admin/rules/versions/${n}`));

    async function load() {
      const [c, hist] = await Promise.all([ctx.api.get('/admin/rules'), ctx.api.get('/admin/rules/history')]);
      cur = c;
      versions = [...hist.versions].sort((a, b) => b.version - a.version);
      replace(head,
        h('h2', null, `Rules · version ${c.version}`),
        h('p', { class: 'muted' }, `Updated ${when(c.updatedAt)} by ${c.updatedBy}`, c.comment ? ` · “${c.comment}”` : ''),
        h('div', { class: 'actions' },
          ctx.guard(h('button', { type: 'button', onclick: () => openEditor() }, 'Edit rules')),
          h('button', { type: 'button', dataset: { read: '' }, onclick: () => void refresh() }, 'Refresh')));
      replace(current, rulesTable(c));
      replace(history, table(['version', 'time', 'by', 'comment', ''], versions.map((v) => [
        String(v.version), when(v.updatedAt), v.updatedBy, v.comment ?? '',
        h('td', { class: 'row-actions' },
          v.version > 1 ? h('button', { type: 'button', dataset: { read: '' }, onclick: () => void showDiff(v.version - 1, v.version) }, `diff ${v.version - 1} → ${v.version}`) : null,
          v.version !== c.version ? ctx.guard(h('button', { type: 'button', onclick: () => void confirmRollback(v.version) }, `Roll back to ${v.version}`)) : h('span', { class: 'badge' }, 'current')),
      ]), { class: 'history' }));
      renderCompare();
    }

    async function refresh() {
      try { await load(); replace(status); } catch (err) { replace(status, note('error', `Cannot read the rules: ${err.message}`)); }
    }

    function renderCompare() {
      const options = (selected) => versions.map((v) => h('option', { value: String(v.version), selected: v.version === selected }, `version ${v.version}`));
      const from = h('select', { dataset: { read: '' }, 'aria-label': 'from version' }, options(Math.max(1, cur.version - 1)));
      const to = h('select', { dataset: { read: '' }, 'aria-label': 'to version' }, options(cur.version));
      replace(compare, h('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); void showDiff(Number(from.value), Number(to.value)); } },
        'Compare ', from, ' → ', to, ' ', h('button', { type: 'submit', dataset: { read: '' } }, 'Show difference')),
      h('div', { class: 'diff-out' }));
    }

    async function showDiff(a, b) {
      const out = compare.querySelector('.diff-out');
      try {
        const [va, vb] = await Promise.all([getVersion(a), getVersion(b)]);
        replace(out, h('h3', null, `From version ${a} to version ${b}`), diffList(diffRulesets(rulesetOf(va), rulesetOf(vb))));
      } catch (err) {
        replace(out, note('error', `Cannot read the versions: ${err.message}`));
      }
    }

    async function confirmRollback(n) {
      let old;
      try { [old] = await Promise.all([getVersion(n), refresh()]); } catch (err) { replace(status, note('error', err.message)); return; }
      const changes = diffRulesets(rulesetOf(cur), rulesetOf(old));
      replace(dialog,
        h('h3', null, `Roll back to version ${n}?`),
        h('p', null, `This makes version ${cur.version + 1} with the content of version ${n}, live on every instance at once. What changes from the current version ${cur.version}:`),
        diffList(changes, `Nothing: version ${cur.version} already has the content of version ${n}.`),
        h('div', { class: 'actions' },
          h('button', { type: 'button', dataset: { read: '' }, onclick: () => dialog.close() }, 'Cancel'),
          ctx.guard(h('button', { type: 'button', class: 'danger', onclick: () => void rollback(n) }, `Roll back to version ${n}`))));
      dialog.showModal();
    }

    async function rollback(n) {
      try {
        const { data } = await ctx.api.call('POST', '/admin/rules/rollback', { body: { version: n } });
        dialog.close();
        await load();
        replace(status, note('ok', `Rolled back: version ${data.version} has the content of version ${n}.`));
      } catch (err) {
        dialog.close();
        replace(status, note('error', `Rollback refused: ${err.message}`));
      }
    }

    function openEditor() {
      const opened = cur;
      let base = opened.version;
      let format = 'json';
      const text = h('textarea', { class: 'code', rows: 18, spellcheck: 'false', 'aria-label': 'Ruleset', value: JSON.stringify(rulesetOf(opened), null, 2) });
      const comment = h('input', { type: 'text', maxlength: 1000, placeholder: 'why (kept in the history)', 'aria-label': 'Comment' });
      const out = h('div', { class: 'status' });
      const formatSel = ctx.guard(h('select', { 'aria-label': 'Format', onchange: () => switchFormat(formatSel.value) },
        h('option', { value: 'json' }, 'JSON'), h('option', { value: 'yaml' }, 'YAML')));
      const parse = () => (format === 'json' ? JSON.parse(text.value) : parseYaml(text.value));
      function switchFormat(next) {
        try {
          const value = parse();
          text.value = next === 'json' ? JSON.stringify(value, null, 2) : toYaml(value);
          format = next;
          replace(out);
        } catch (err) {
          formatSel.value = format;
          replace(out, note('error', `Fix the ${format.toUpperCase()} first: ${err.message}`));
        }
      }
      async function save() {
        let body;
        try { body = parse(); } catch (err) { replace(out, note('error', `Not valid ${format.toUpperCase()}: ${err.message}`)); return; }
        if (!body || typeof body !== 'object' || Array.isArray(body)) { replace(out, note('error', 'The ruleset must be an object {rules, default}.')); return; }
        if (comment.value.trim()) body = { ...body, comment: comment.value.trim() };
        try {
          const { data } = await ctx.api.call('PUT', '/admin/rules', { body, headers: { 'if-match': `"${base}"` } });
          replace(editor);
          await load();
          replace(status, note('ok', `Saved as version ${data.version}, live on every instance.`));
        } catch (err) {
          if (err instanceof ApiError && err.status === 409) return conflict(body);
          replace(out, note('error', err.code === 'invalid_ruleset' || err.code === 'invalid_request' ? 'The gateway refused this ruleset:' : `Save refused: ${err.message}`), problems(err));
        }
      }
      /** 409: someone saved since this editor opened (SPEC 6, If-Match). Show what they changed. */
      async function conflict(mine) {
        let now;
        let baseDoc;
        try { [now, baseDoc] = await Promise.all([ctx.api.get('/admin/rules'), getVersion(base)]); } catch (err) { replace(out, note('error', err.message)); return; }
        replace(out, h('div', { class: 'conflict', role: 'alert' },
          h('h3', null, 'Someone changed the rules since you opened them'),
          h('p', null, `You opened version ${base}; the rules are now at version ${now.version}, saved ${when(now.updatedAt)} by ${now.updatedBy}`, now.comment ? ` (“${now.comment}”)` : '', '. Your edit was not saved.'),
          h('h4', null, `What changed from version ${base} to version ${now.version}`),
          diffList(diffRulesets(rulesetOf(baseDoc), rulesetOf(now))),
          h('h4', null, `What your text would change from version ${now.version}`),
          diffList(diffRulesets(rulesetOf(now), mine)),
          h('div', { class: 'actions' },
            h('button', { type: 'button', dataset: { read: '' }, onclick: () => { replace(editor); void load().then(openEditor); } }, `Discard my edit and open version ${now.version}`),
            ctx.guard(h('button', { type: 'button', class: 'danger', onclick: () => { base = now.version; void save(); } }, `Save my text over version ${now.version}`)))));
        editor.scrollIntoView();
      }
      replace(editor,
        h('h2', null, `Edit · opened at version ${opened.version}`),
        h('div', { class: 'inline' }, field('Format', formatSel), field('Comment', ctx.guard(comment)),
          ctx.guard(h('button', { type: 'button', class: 'primary', onclick: () => void save() }, 'Save')),
          h('button', { type: 'button', dataset: { read: '' }, onclick: () => replace(editor) }, 'Close editor')),
        out,
        ctx.guard(text));
      editor.scrollIntoView();
      text.focus();
    }

    void refresh();
  },
};
