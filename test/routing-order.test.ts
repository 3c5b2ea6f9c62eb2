/**
 * The routing order of SPEC section 4, through a real gateway and the
 * reference backends: version, then merchant flag (for versions the flagged
 * backend speaks), then the first matching rule, then the default. The
 * decision headers must tell the truth: the answering backend says who it is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketOf } from '../gateway/bucket.ts';
import type { Ruleset } from '../gateway/rules.ts';
import { orderId, useStack, v1Create, v2Create } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';

const RULES: Ruleset = {
  rules: [
    { name: 'canary-header', match: { apiVersion: 'v1', header: { name: 'X-Canary', equals: 'on' } }, backend: 'next' },
    { name: 'vip', match: { apiVersion: 'v1', merchants: ['M-VIP', 'M-VIP2', 'M-FLAGGED'] }, backend: 'next' },
    { name: 'vip-shadow', match: { apiVersion: 'v1', merchants: ['M-VIP', 'M-SHADOW'] }, backend: 'legacy' },
    { name: 'echo-put', match: { apiVersion: 'v1', methods: ['PUT'], pathPrefix: '/api/v1/echo' }, backend: 'next' },
    { name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' },
  ],
  default: 'legacy',
};

const stack = useStack(() => ({ rules: RULES }));

interface Answer { status: number; headers: Headers; body: any; backend: string | null; reason: string | null }

async function send(method: string, path: string, merchant: string | undefined, opts: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...(merchant ? { 'x-merchant-id': merchant } : {}), ...opts.headers };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (method === 'POST' && path.startsWith('/api/v2/')) headers['idempotency-key'] ??= orderId('idem');
  const res = await fetch(`${stack.gw.url}${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await res.text();
  const answer = {
    status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null,
    backend: res.headers.get('x-cutover-backend'), reason: res.headers.get('x-cutover-reason'),
  };
  if (answer.backend !== null) assert.equal(res.headers.get('x-backend'), answer.backend, 'the backend that answered is the one the headers name');
  return answer;
}
const createV1 = (merchant: string, headers: Record<string, string> = {}) => send('POST', '/api/v1/payments', merchant, { body: v1Create(orderId()), headers });
const createV2 = (merchant: string) => send('POST', '/api/v2/payments', merchant, { body: v2Create(orderId()) });
const backendRequests = () => stack.backends.legacy.state.requests + stack.backends.next.state.requests;

test('an unknown API version is 404 unknown_api_version, before anything else and without reaching a backend', async () => {
  const before = backendRequests();
  const cases = [['POST', '/api/v3/payments', 'v3'], ['GET', '/api/v3/payments/pay_1', 'v3'], ['GET', '/api/V1/payments/1', 'V1'], ['GET', '/api/v0', 'v0']] as const;
  for (const [method, path, version] of cases) {
    // No merchant header and a bad body: the version step answers first.
    const res = await fetch(`${stack.gw.url}${path}`, { method, body: method === 'POST' ? '{not json' : undefined, headers: { 'x-request-id': 'req-version-check' } });
    assert.equal(res.status, 404, path);
    assert.deepEqual(await res.json(), {
      error: 'unknown_api_version', message: `Unknown API version "${version}"; this gateway serves v1 and v2`, requestId: 'req-version-check',
    });
    assert.equal(res.headers.get('x-cutover-backend'), null);
  }
  assert.equal(backendRequests(), before);
});

test('with no flag and no matching rule, the default answers, with the rules version', async () => {
  const r = await createV1('M-PLAIN');
  assert.equal(r.status, 200);
  assert.equal(r.backend, 'legacy');
  assert.equal(r.reason, 'default');
  assert.equal(r.headers.get('x-cutover-rules-version'), '1');
  assert.match(r.body.trade_no, /^\d+$/, 'a legacy-shaped transaction id');
  const off = await createV1('M-PLAIN', { 'x-canary': 'off' });
  assert.equal(off.reason, 'default');
});

test('each kind of match beats the default: header, merchants, methods + pathPrefix, apiVersion', async () => {
  const header = await createV1('M-PLAIN', { 'X-Canary': 'on' });
  assert.deepEqual([header.status, header.backend, header.reason], [200, 'next', 'rule:canary-header']);
  assert.match(header.body.trade_no, /^pay_/);

  const merchant = await createV1('M-VIP2');
  assert.deepEqual([merchant.backend, merchant.reason], ['next', 'rule:vip']);

  const put = await send('PUT', '/api/v1/echo/x', 'M-PLAIN', { body: { any: 'thing' } });
  assert.deepEqual([put.status, put.backend, put.reason], [200, 'next', 'rule:echo-put']);
  const post = await send('POST', '/api/v1/echo/x', 'M-PLAIN', { body: { any: 'thing' } });
  assert.deepEqual([post.backend, post.reason], ['legacy', 'default'], 'methods must match too');
  const otherPath = await send('PUT', '/api/v1/other', 'M-PLAIN', { body: {} });
  assert.deepEqual([otherPath.backend, otherPath.reason], ['legacy', 'default'], 'pathPrefix must match too');

  const v2 = await createV2('M-PLAIN');
  assert.deepEqual([v2.status, v2.backend, v2.reason], [201, 'next', 'rule:v2-to-next']);
});

test('the first matching rule wins', async () => {
  const both = await createV1('M-VIP');
  assert.deepEqual([both.backend, both.reason], ['next', 'rule:vip'], 'M-VIP matches vip and vip-shadow; vip is listed first');
  const second = await createV1('M-SHADOW');
  assert.deepEqual([second.backend, second.reason], ['legacy', 'rule:vip-shadow']);
  const header = await createV1('M-VIP', { 'x-canary': 'on' });
  assert.equal(header.reason, 'rule:canary-header');
});

test('a merchant flag beats the rules, but only for versions the flagged backend speaks', async () => {
  assert.equal((await createV1('M-FLAGGED')).reason, 'rule:vip');
  assert.equal((await admin(stack.gw, 'PUT', '/admin/merchants/M-FLAGGED', { backend: 'legacy' })).status, 200);

  const v1 = await createV1('M-FLAGGED', { 'x-canary': 'on' });
  assert.deepEqual([v1.status, v1.backend, v1.reason], [200, 'legacy', 'merchant-flag']);
  const unmodelled = await send('PUT', '/api/v1/echo/x', 'M-FLAGGED', { body: {} });
  assert.deepEqual([unmodelled.backend, unmodelled.reason], ['legacy', 'merchant-flag']);
  const v2 = await createV2('M-FLAGGED');
  assert.deepEqual([v2.status, v2.backend, v2.reason], [201, 'next', 'rule:v2-to-next'], 'legacy does not speak v2: the rules decide');

  assert.equal((await admin(stack.gw, 'PUT', '/admin/merchants/M-FLAGGED', { backend: 'next' })).status, 200);
  const v2Flagged = await createV2('M-FLAGGED');
  assert.deepEqual([v2Flagged.backend, v2Flagged.reason], ['next', 'merchant-flag']);

  assert.equal((await admin(stack.gw, 'DELETE', '/admin/merchants/M-FLAGGED')).status, 200);
  assert.equal((await createV1('M-FLAGGED')).reason, 'rule:vip');
});

test('X-Request-Id: the caller\'s is echoed and forwarded; otherwise a new one; a malformed one is replaced', async () => {
  const given = await send('PUT', '/api/v1/echo/rid', 'M-PLAIN', { body: {}, headers: { 'x-request-id': 'merchant-req-42' } });
  assert.equal(given.headers.get('x-request-id'), 'merchant-req-42');
  assert.equal(given.body.headers['x-request-id'], 'merchant-req-42', 'the backend receives it');

  const a = await send('PUT', '/api/v1/echo/rid', 'M-PLAIN', { body: {} });
  const b = await createV1('M-PLAIN');
  const idA = a.headers.get('x-request-id');
  assert.match(idA ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(a.body.headers['x-request-id'], idA);
  assert.notEqual(b.headers.get('x-request-id'), idA);

  const bad = await send('PUT', '/api/v1/echo/rid', 'M-PLAIN', { body: {}, headers: { 'x-request-id': 'has spaces and "quotes"' } });
  assert.match(bad.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(bad.body.headers['x-request-id'], bad.headers.get('x-request-id'));

  const refused = await send('POST', '/api/v1/payments', undefined, { body: v1Create(orderId()), headers: { 'x-request-id': 'merchant-req-43' } });
  assert.equal(refused.status, 400);
  assert.equal(refused.headers.get('x-request-id'), 'merchant-req-43');
  assert.equal(refused.body.requestId, 'merchant-req-43');
});

test('a split rule set through the admin API routes each merchant by its bucket, under the new version', async () => {
  const split: Ruleset = {
    rules: [
      { name: 'v1-half', match: { apiVersion: 'v1' }, split: [{ backend: 'next', weight: 50 }, { backend: 'legacy', weight: 50 }], stickyBy: 'merchant' },
      { name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' },
    ],
    default: 'legacy',
  };
  const put = await admin(stack.gw, 'PUT', '/admin/rules', split);
  assert.equal(put.status, 200);
  const { version } = put.body;
  assert.ok(version >= 2);
  const seen = new Set<string>();
  for (let i = 0; i < 16; i++) {
    const merchant = `M-SPLIT-${i}`;
    const r = await createV1(merchant);
    assert.equal(r.status, 200);
    assert.equal(r.reason, 'rule:v1-half');
    assert.equal(r.backend, bucketOf('v1-half', merchant) < 5000 ? 'next' : 'legacy', merchant);
    assert.equal(r.headers.get('x-cutover-rules-version'), String(version));
    seen.add(r.backend!);
  }
  assert.equal(seen.size, 2, 'sixteen merchants at 50 % land on both sides');
});
