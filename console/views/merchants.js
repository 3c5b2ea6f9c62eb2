/**
 * Merchants: the merchant flags (search, flag, unflag, each with its reason
 * recorded in the audit) and "explain": where a request would go now and
 * why, for a merchant, an order or a transaction, without sending it.
 */
import { h, replace, note, table, field } from '../dom.js';
import { query, seg } from '../api.js';
import { when } from '../format.js';

const REASONS = {
  pinned: 'the transaction is pinned to the backend that created it; follow-ups always go there',
  'merchant-flag': 'the merchant is flagged to this backend',
  unpinned: 'no pin for this transaction: its id shape decides (pins.unpinned in the config)',
  default: 'no rule matched: the ruleset default',
};

/** The reason code in words. */
function reasonText(reason, rule) {
  if (REASONS[reason]) return REASONS[reason];
  if (reason?.startsWith('failover:')) return `rule ${rule} matched but its backend's breaker is open: failed over`;
  if (reason?.startsWith('rule:') || rule) return `rule ${rule} matched`;
  return reason ?? '';
}

function explainResult(x, pin) {
  if (x.backend === null) {
    return h('div', { class: 'explained refused', dataset: { backend: '' } },
      h('p', { class: 'big' }, `Refused: ${x.refusal?.status} ${x.refusal?.error}`), h('p', null, x.refusal?.message ?? ''));
  }
  return h('div', { class: 'explained', dataset: { backend: x.backend } },
    h('p', { class: 'big' }, '→ ', h('strong', null, x.backend)),
    h('p', null, `Why: ${reasonText(x.reason, x.rule)}.`),
    h('dl', null,
      h('dt', null, 'reason'), h('dd', null, h('code', null, x.reason)),
      x.rule ? [h('dt', null, 'rule'), h('dd', null, x.rule)] : null,
      x.bucket !== undefined && x.bucket !== null ? [h('dt', null, 'split bucket'), h('dd', null, String(x.bucket))] : null,
      h('dt', null, 'endpoint'), h('dd', null, x.endpoint ?? '–'),
      h('dt', null, 'rules version'), h('dd', null, String(x.rulesVersion)),
      pin !== undefined ? [h('dt', null, 'pin'), h('dd', null, pin ? `${pin.backend}, pinned ${when(pin.pinnedAt)}, expires ${when(pin.expiresAt)}` : 'none')] : null));
}

export default {
  id: 'merchants',
  title: 'Merchants',
  mount(root, ctx) {
    const status = h('div', { class: 'status' });
    const list = h('div');
    const search = h('input', { type: 'search', size: 32, placeholder: 'merchant, backend or reason', 'aria-label': 'Search flags', dataset: { read: '' }, oninput: () => render() });
    const dialog = h('dialog', { class: 'confirm' });
    let flags = [];
    let backends = [];

    // Flag form
    const fMerchant = ctx.guard(h('input', { type: 'text', required: true, maxlength: 64, 'aria-label': 'Merchant id', placeholder: 'M123' }));
    const fBackend = ctx.guard(h('select', { 'aria-label': 'Backend' }));
    const fReason = ctx.guard(h('input', { type: 'text', maxlength: 1000, required: true, 'aria-label': 'Reason', size: 40, placeholder: 'why (recorded in the audit)' }));
    const flagForm = h('form', { class: 'inline', 'aria-label': 'Flag a merchant', onsubmit: (e) => { e.preventDefault(); void flag(); } },
      field('Merchant', fMerchant), field('to backend', fBackend), field('Reason', fReason),
      ctx.guard(h('button', { type: 'submit', class: 'primary' }, 'Flag')));

    // Explain form
    const eMerchant = h('input', { type: 'text', required: true, maxlength: 64, 'aria-label': 'Explain merchant', dataset: { read: '' }, placeholder: 'M123' });
    const eVersion = h('select', { 'aria-label': 'API version', dataset: { read: '' } }, h('option', { value: 'v1' }, 'v1'), h('option', { value: 'v2' }, 'v2'));
    const eKind = h('select', { 'aria-label': 'What', dataset: { read: '' } },
      h('option', { value: 'create' }, 'a new payment with order id'),
      h('option', { value: 'query' }, 'an order query by order id'),
      h('option', { value: 'transaction' }, 'a follow-up for transaction id'));
    const eId = h('input', { type: 'text', required: true, maxlength: 128, 'aria-label': 'Order or transaction id', dataset: { read: '' } });
    const eOut = h('div', { class: 'explain-out' });
    const explainForm = h('form', { class: 'inline', 'aria-label': 'Explain', onsubmit: (e) => { e.preventDefault(); void explain(); } },
      field('Merchant', eMerchant), field('API', eVersion), field('For', eKind), field('Id', eId),
      h('button', { type: 'submit', dataset: { read: '' } }, 'Explain'));

    root.append(
      h('h2', null, 'Merchants'), status,
      h('h3', null, 'Flag a merchant'),
      h('p', { class: 'muted' }, 'A flag sends the merchant\'s new transactions to one backend, before any rule. Existing transactions stay where they were created.'),
      flagForm,
      h('h3', null, 'Flags'), h('div', { class: 'inline' }, search), list,
      h('h2', null, 'Explain'),
      h('p', { class: 'muted' }, 'Why did this go to legacy? What the gateway would do now, without sending anything.'),
      explainForm, eOut, dialog);

    function render() {
      const q = search.value.trim().toLowerCase();
      const shown = flags.filter((f) => !q || [f.merchant, f.backend, f.comment ?? ''].some((s) => s.toLowerCase().includes(q)));
      replace(list, shown.length === 0
        ? h('p', { class: 'muted' }, flags.length ? 'No flag matches.' : 'No merchant is flagged.')
        : table(['merchant', 'backend', 'reason', 'by', 'since', ''], shown.map((f) => h('tr', { dataset: { merchant: f.merchant } },
          h('td', null, h('code', null, f.merchant)), h('td', null, f.backend), h('td', null, f.comment ?? ''), h('td', null, f.updatedBy), h('td', null, when(f.updatedAt)),
          h('td', null, ctx.guard(h('button', { type: 'button', onclick: () => confirmUnflag(f) }, 'Unflag'))))), { class: 'flags' }));
    }

    async function load() {
      const [res, traffic] = await Promise.all([ctx.api.get('/admin/merchants'), backends.length ? null : ctx.api.get('/admin/traffic')]);
      flags = [...res.merchants].sort((a, b) => a.merchant.localeCompare(b.merchant));
      if (traffic) {
        backends = traffic.backends.map((b) => b.backend);
        replace(fBackend, backends.map((b) => h('option', { value: b }, b)));
      }
      render();
    }

    async function flag() {
      const merchant = fMerchant.value.trim();
      try {
        await ctx.api.call('PUT', `/admin/merchants/${seg(merchant)}`, { body: { backend: fBackend.value, comment: fReason.value.trim() } });
        fMerchant.value = '';
        fReason.value = '';
        await load();
        replace(status, note('ok', `Flagged ${merchant} to ${fBackend.value}: its new transactions go there now, on every instance.`));
      } catch (err) {
        replace(status, note('error', `Flag refused: ${err.message}`), err.details ? h('ul', null, err.details.map((d) => h('li', null, `${d.path}: ${d.message}`))) : null);
      }
    }

    function confirmUnflag(f) {
      const reason = ctx.guard(h('input', { type: 'text', required: true, maxlength: 1000, 'aria-label': 'Reason for unflagging', placeholder: 'why (recorded in the audit)' }));
      replace(dialog, h('form', { onsubmit: (e) => { e.preventDefault(); void unflag(f, reason.value.trim()); } },
        h('h3', null, `Unflag ${f.merchant}?`),
        h('p', null, `Its new transactions will go by the rules again instead of to ${f.backend}. Existing transactions stay where they are.`),
        field('Reason', reason),
        h('div', { class: 'actions' },
          h('button', { type: 'button', dataset: { read: '' }, onclick: () => dialog.close() }, 'Cancel'),
          ctx.guard(h('button', { type: 'submit', class: 'danger' }, `Unflag ${f.merchant}`)))));
      dialog.showModal();
      reason.focus();
    }

    async function unflag(f, reason) {
      try {
        await ctx.api.call('DELETE', `/admin/merchants/${seg(f.merchant)}`, { body: reason ? { comment: reason } : undefined });
        dialog.close();
        await load();
        replace(status, note('ok', `Unflagged ${f.merchant}.`));
      } catch (err) {
        dialog.close();
        replace(status, note('error', `Unflag refused: ${err.message}`));
      }
    }

    async function explain() {
      const merchant = eMerchant.value.trim();
      const id = eId.value.trim();
      const v = eVersion.value;
      const q = eKind.value === 'transaction'
        ? { merchant, apiVersion: v, method: 'GET', path: `/api/${v}/payments/${id}` }
        : eKind.value === 'query'
          ? { merchant, apiVersion: v, method: 'GET', path: `/api/${v}/payments`, orderId: id }
          : { merchant, apiVersion: v, method: 'POST', orderId: id };
      try {
        const [x, pin] = await Promise.all([
          ctx.api.get(`/admin/explain${query(q)}`),
          eKind.value === 'transaction' ? ctx.api.get(`/admin/pins/${seg(id)}`).catch((err) => (err.status === 404 ? null : Promise.reject(err))) : undefined,
        ]);
        replace(eOut, explainResult(x, pin));
      } catch (err) {
        replace(eOut, note('error', `Cannot explain: ${err.message}`), err.details ? h('ul', null, err.details.map((d) => h('li', null, `${d.path}: ${d.message}`))) : null);
      }
    }

    load().catch((err) => replace(status, note('error', `Cannot read the flags: ${err.message}`)));
  },
};
