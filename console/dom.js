/**
 * The page's only way to build DOM: elements from tag, properties and
 * children, where every string child becomes a text node. Data never goes
 * through innerHTML, so a merchant id or comment holding markup shows as text.
 */

/** An element: `h('button', {class: 'x', onclick}, 'Save')`. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) {
      if (typeof v !== 'function') throw new TypeError(`${k} must be a function`); // never an inline handler attribute
      el.addEventListener(k.slice(2), v);
    }
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, ...children);
  return el;
}

/** Appends children: nodes as they are, anything else as text. */
export function append(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, ...children);
}

/** A table from a header row and body rows (arrays of cells). */
export function table(headers, rows, props = {}) {
  return h('table', props,
    h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, rows.map((r) => (r instanceof Node ? r : h('tr', null, r.map((c) => (c instanceof Node && c.tagName === 'TD' ? c : h('td', null, c))))))));
}

/** A message line: kind is 'error', 'ok' or 'info'. */
export function note(kind, ...children) {
  return h('p', { class: ['note', kind], role: kind === 'error' ? 'alert' : 'status' }, ...children);
}

/** The server's validation problems of a refused call (the `details` of SPEC §3) as a list, the first `most` of them; null without details. */
export function problems(err, most = Infinity) {
  if (!Array.isArray(err.details)) return null;
  return h('ul', { class: 'problems' }, err.details.slice(0, most).map((d) => h('li', null, h('code', null, d.path || '/'), ` ${d.message}`)));
}

/** A labelled form field wrapping `control`. */
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), control, hint ? h('span', { class: 'hint' }, hint) : null);
}
