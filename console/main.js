/**
 * The console shell: asks for an admin token (kept in sessionStorage only,
 * so it dies with the tab), learns what the token may do, and shows one view
 * at a time, chosen by the URL fragment. Views are modules listed in
 * views/index.js; each gets a context with the API client, the token's
 * rights and a poller that stops when the view is left.
 */
import { h, replace, note } from './dom.js';
import { createApi, ApiError } from './api.js';
import { views } from './views/index.js';

const TOKEN_KEY = 'cutover.adminToken';
const app = document.getElementById('app');
let leave = () => {};

function loginScreen(message) {
  leave();
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', required: true, spellcheck: 'false', dataset: { read: '' } });
  const status = h('div', { class: 'status' }, message ? note('error', message) : null);
  const form = h('form', {
    class: 'login', 'aria-label': 'Sign in',
    onsubmit: (e) => { e.preventDefault(); void signIn(input.value.trim(), status); },
  },
  h('h1', null, 'Cutover console'),
  h('label', { for: 'token' }, 'Admin token'),
  input,
  h('p', { class: 'hint' }, 'The same Bearer token as the admin API and the CLI. It stays in this tab only (session storage) and is sent to this gateway only.'),
  h('button', { type: 'submit', dataset: { read: '' } }, 'Sign in'),
  status);
  replace(app, form);
  input.focus();
}

async function signIn(token, status) {
  if (!token) return;
  try {
    const principal = await createApi(token).get('/admin/whoami');
    sessionStorage.setItem(TOKEN_KEY, token);
    void start(token, principal);
  } catch (err) {
    replace(status, note('error', err instanceof ApiError && err.status === 401 ? 'This token is not accepted by the gateway.' : `Cannot sign in: ${err.message}`));
  }
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  loginScreen(message);
}

async function start(token, principal) {
  const api = createApi(token, () => signOut('The gateway no longer accepts this token; sign in again.'));
  const readOnlyWhy = `Read-only token "${principal.name}": changes need a token without readOnly (admin.tokens in the gateway config).`;
  const ctx = {
    api,
    principal,
    readOnly: principal.readOnly,
    /** Marks a control as a change; with a read-only token it is disabled and says why. */
    guard(el) {
      el.dataset.write = '';
      if (principal.readOnly) { el.disabled = true; el.title = readOnlyWhy; }
      return el;
    },
    go(id) { location.hash = `#${id}`; },
  };
  const nav = h('nav', { 'aria-label': 'Views' }, views.map((v) => h('a', { href: `#${v.id}`, dataset: { view: v.id } }, v.title)));
  const main = h('main', { id: 'view' });
  replace(app,
    h('header', null,
      h('span', { class: 'brand' }, 'Cutover'),
      nav,
      h('span', { class: 'who' }, `signed in as ${principal.name}`, principal.readOnly ? h('span', { class: 'badge ro', title: readOnlyWhy }, 'read-only') : null),
      h('button', { type: 'button', class: 'link', dataset: { read: '' }, onclick: () => signOut() }, 'Sign out')),
    principal.readOnly ? h('div', { class: 'banner' }, 'Read-only token: you see everything; every change is disabled.') : null,
    main);

  const show = () => {
    leave();
    const view = views.find((v) => `#${v.id}` === location.hash) ?? views[0];
    for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.view === view.id);
    document.title = `${view.title} · Cutover console`;
    const timers = new Set();
    let live = true;
    const viewCtx = {
      ...ctx,
      /** Runs `fn` now and then every `everyMs` after each run ends, until the view is left. */
      every(everyMs, fn) {
        const run = async () => {
          if (!live) return;
          try { await fn(); } catch (err) { if (live) console.warn(err); }
          if (live) timers.add(setTimeout(run, everyMs));
        };
        void run();
      },
      get live() { return live; },
    };
    const root = h('section', { class: 'view', dataset: { view: view.id } });
    replace(main, root);
    const cleanup = view.mount(root, viewCtx);
    leave = () => { live = false; for (const t of timers) clearTimeout(t); cleanup?.(); leave = () => {}; };
  };
  window.onhashchange = show;
  show();
}

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) {
  createApi(saved).get('/admin/whoami').then((p) => start(saved, p), () => signOut('Sign in again.'));
} else {
  loginScreen();
}
