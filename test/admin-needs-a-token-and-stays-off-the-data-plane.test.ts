import { test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { admin } from './helpers/admin.ts';
import { ADMIN_TOKEN, DEFAULT_RULES, READONLY_TOKEN, useStack } from './helpers/stack.ts';

// A flag to read and to (fail to) delete.
const stack = useStack(() => ({ onStarted: async (gw) => { assert.equal((await admin(gw, 'PUT', '/admin/merchants/M-KEEP', { backend: 'next' })).status, 200); } }));

/** `authorization`: a bare token is sent as Bearer, anything with a space as it is, undefined not at all. */
const authHeader = (authorization: string | undefined): Record<string, string> =>
  authorization === undefined ? {} : { authorization: authorization.includes(' ') ? authorization : `Bearer ${authorization}` };

/** A call to the admin app, in-process. */
const call = async (authorization: string | undefined, method: string, path: string, body?: unknown) => {
  const req = request(stack.gw.gw.adminApp)[method.toLowerCase() as 'get'](path).set(authHeader(authorization));
  const res = await (body === undefined ? req : req.send(body as object));
  return { status: res.status, headers: res.headers, text: res.text, body: res.text.startsWith('{') ? JSON.parse(res.text) : undefined };
};

/** A call to the data port over loopback, as a merchant (or an attacker) would send it. */
const dataCall = async (authorization: string | undefined, method: string, path: string, body?: unknown) => {
  const headers = { ...authHeader(authorization), ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
  const res = await fetch(`${stack.gw.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, text, body: text.startsWith('{') ? JSON.parse(text) : undefined };
};

const READS: [string, string][] = [
  ['GET', '/admin/rules'], ['GET', '/admin/rules/history'], ['GET', '/admin/rules/versions/1'], ['GET', '/admin/split'],
  ['GET', '/admin/merchants'], ['GET', '/admin/merchants/M-KEEP'], ['GET', '/admin/audit'],
  ['GET', '/admin/explain?apiVersion=v1&merchant=M-1&orderId=O-1'],
];
const WRITES: [string, string, unknown][] = [
  ['PUT', '/admin/rules', { rules: DEFAULT_RULES.rules, default: 'next' }],
  ['POST', '/admin/rules/rollback', { version: 1 }],
  ['PUT', '/admin/merchants/M-NEW', { backend: 'next' }],
  ['DELETE', '/admin/merchants/M-KEEP', undefined],
];

test('every admin call without a token, with a wrong one or another scheme is 401 with a Bearer challenge', async () => {
  const wrong = [undefined, 'wrong-token', `${ADMIN_TOKEN}x`, `Basic ${Buffer.from(`ops:${ADMIN_TOKEN}`).toString('base64')}`, 'Bearer ', `bearer  ${ADMIN_TOKEN}`];
  for (const [method, path, body] of [...READS.map(([m, p]) => [m, p, undefined] as const), ...WRITES, ['GET', '/admin/no-such-thing', undefined] as const]) {
    for (const authorization of wrong) {
      const res = await call(authorization, method, path, body);
      assert.equal(res.status, 401, `${method} ${path} with ${authorization}`);
      assert.equal(res.body.error, 'unauthorized');
      assert.match(res.headers['www-authenticate'] ?? '', /^Bearer /);
    }
  }
});

test('the read-only token reads everything and is refused every write with 403; nothing changes', async () => {
  for (const [method, path] of READS) {
    assert.equal((await call(READONLY_TOKEN, method, path)).status, 200, `${method} ${path}`);
  }
  for (const [method, path, body] of WRITES) {
    const res = await call(READONLY_TOKEN, method, path, body);
    assert.equal(res.status, 403, `${method} ${path}`);
    assert.equal(res.body.error, 'forbidden');
  }
  const rules = await call(ADMIN_TOKEN, 'GET', '/admin/rules');
  assert.equal(rules.body.version, 1);
  const flags = await call(ADMIN_TOKEN, 'GET', '/admin/merchants');
  assert.deepEqual(flags.body.merchants.map((f: { merchant: string }) => f.merchant), ['M-KEEP']);
  assert.equal((await call(ADMIN_TOKEN, 'GET', '/admin/audit')).body.entries.length, 1, 'only the set-up flag');
});

test('the Bearer scheme name is case-insensitive, the token is not', async () => {
  assert.equal((await call(`bearer ${ADMIN_TOKEN}`, 'GET', '/admin/rules')).status, 200);
  assert.equal((await call(`BEARER ${ADMIN_TOKEN}`, 'GET', '/admin/rules')).status, 200);
  assert.equal((await call(`Bearer ${ADMIN_TOKEN.toUpperCase()}`, 'GET', '/admin/rules')).status, 401);
});

test('an unknown admin path with a good token is a JSON 404', async () => {
  const res = await call(ADMIN_TOKEN, 'GET', '/admin/nothing-here');
  assert.equal(res.status, 404);
  assert.equal(res.body.error, 'not_found');
});

test('the data plane answers 404 to admin, metrics and health paths, with or without a token', async () => {
  for (const path of ['/admin/rules', '/admin/merchants', '/metrics', '/healthz', '/readyz', '/']) {
    for (const authorization of [undefined, ADMIN_TOKEN]) {
      const res = await dataCall(authorization, 'GET', path);
      assert.equal(res.status, 404, `data plane ${path}`);
      assert.equal(res.body.error, 'not_found');
      assert.doesNotMatch(res.text, /"rules"|cutover_|"version"/, 'no admin content leaks');
    }
  }
  const put = await dataCall(ADMIN_TOKEN, 'PUT', '/admin/rules', { rules: [], default: 'next' });
  assert.equal(put.status, 404);
  assert.equal((await call(ADMIN_TOKEN, 'GET', '/admin/rules')).body.version, 1);
});

test('the admin port serves /metrics and /healthz without a token', async () => {
  const metrics = await call(undefined, 'GET', '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.text, /^cutover_rules_version 1$/m);
  const health = await call(undefined, 'GET', '/healthz');
  assert.equal(health.status, 200);
  assert.equal(health.body.status, 'ok');
});
