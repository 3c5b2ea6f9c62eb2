import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useStack } from './helpers/stack.ts';

// Issue 17 / SPEC 12: /console on the admin port, strict CSP, no inline script, no framing.
const stack = useStack();
const get = (path: string) => fetch(`${stack.gw.adminUrl}${path}`, { redirect: 'manual' });
const CONSOLE_DIR = join(import.meta.dirname, '..', 'console');

test('the page is served with a strict CSP, no framing and no sniffing', async () => {
  const res = await get('/console/');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
  const csp = res.headers.get('content-security-policy') ?? '';
  const directives = Object.fromEntries(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v.join(' ')]));
  assert.equal(directives['default-src'], "'none'");
  assert.equal(directives['script-src'], "'self'");
  assert.equal(directives['style-src'], "'self'");
  assert.equal(directives['frame-ancestors'], "'none'");
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  const html = await res.text();
  // No inline script or style: every <script> loads a file; no style attribute or element.
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
    assert.match(m[1], /\bsrc=/);
    assert.equal(m[2].trim(), '');
  }
  assert.doesNotMatch(html, /<style\b|\sstyle=|\son[a-z]+=/i);
  assert.equal((await get('/console')).headers.get('location'), '/console/');
});

test('the modules, uPlot and the YAML parser are served as JavaScript from this origin, with the same headers', async () => {
  for (const path of ['/console/app/main.js', '/console/app/views/index.js', '/console/vendor/uplot/uPlot.esm.js', '/console/vendor/yaml/index.js']) {
    const res = await get(path);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get('content-type') ?? '', /^(text|application)\/javascript/, path);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
    assert.ok(res.headers.get('content-security-policy'), path);
    await res.arrayBuffer();
  }
  const css = await get('/console/vendor/uplot/uPlot.min.css');
  assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
  await css.arrayBuffer();
});

test('nothing outside the console files is reachable under /console', async () => {
  for (const path of ['/console/vendor/uplot/package.json', '/console/app/../../package.json', '/console/app/%2e%2e/%2e%2e/package.json', '/console/vendor/yaml/../../package.json', '/console/nope']) {
    const res = await get(path);
    assert.equal(res.status, 404, path);
    assert.equal((await res.json()).error, 'not_found', path);
  }
});

test('the page never writes markup from data: no innerHTML, outerHTML, insertAdjacentHTML or document.write', () => {
  const files = readdirSync(CONSOLE_DIR, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
  assert.ok(files.length >= 8, `found ${files.length} modules`);
  for (const f of files) {
    assert.doesNotMatch(readFileSync(join(CONSOLE_DIR, f), 'utf8'), /\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write|\beval\(|new Function/, f);
  }
});
