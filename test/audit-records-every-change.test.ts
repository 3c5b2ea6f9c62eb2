import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, DEFAULT_RULES, READONLY_TOKEN, useStack } from './helpers/stack.ts';

const ALICE_TOKEN = 'alice-token-0123456789abcdef';
const stack = useStack(() => ({ overrides: {
    admin: { tokens: [{ name: 'ops', token: ADMIN_TOKEN }, { name: 'viewer', token: READONLY_TOKEN, readOnly: true }, { name: 'alice', token: ALICE_TOKEN }] },
  } }));

const call = async (token: string, method: string, path: string, body?: unknown) => {
  const res = await fetch(`${stack.gw.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
};
interface Entry { time: string; actor: string; action: string; target?: string; before: any; after: any }
const audit = async (query = ''): Promise<Entry[]> => (await call(READONLY_TOKEN, 'GET', `/admin/audit${query}`)).body.entries;

const NEXT_RULES = { rules: DEFAULT_RULES.rules, default: 'next' };

test('a rules change is audited under the token name, with the version and content before and after', async () => {
  assert.equal((await call(ALICE_TOKEN, 'PUT', '/admin/rules', { ...NEXT_RULES, comment: 'v1 default to next' })).status, 200);
  const [entry] = await audit();
  assert.equal(entry.actor, 'alice');
  assert.equal(entry.action, 'rules.put');
  assert.ok(Math.abs(Date.parse(entry.time) - Date.now()) < 60_000);
  assert.equal(entry.before.version, 1);
  assert.deepEqual(entry.before.ruleset, DEFAULT_RULES);
  assert.equal(entry.after.version, 2);
  assert.deepEqual(entry.after.ruleset, NEXT_RULES);
  assert.equal(entry.after.comment, 'v1 default to next');
});

test('a rollback is audited as rules.rollback with what it replaced and what it restored', async () => {
  assert.equal((await call(ADMIN_TOKEN, 'POST', '/admin/rules/rollback', { version: 1 })).status, 200);
  const [entry] = await audit();
  assert.equal(entry.actor, 'ops');
  assert.equal(entry.action, 'rules.rollback');
  assert.equal(entry.before.version, 2);
  assert.deepEqual(entry.before.ruleset, NEXT_RULES);
  assert.equal(entry.after.version, 3);
  assert.deepEqual(entry.after.ruleset, DEFAULT_RULES);
});

test('merchant flag set, change and removal are audited with before and after', async () => {
  await call(ALICE_TOKEN, 'PUT', '/admin/merchants/M-AUD', { backend: 'next', comment: 'pilot' });
  await call(ADMIN_TOKEN, 'PUT', '/admin/merchants/M-AUD', { backend: 'legacy' });
  await call(ADMIN_TOKEN, 'DELETE', '/admin/merchants/M-AUD');
  const [removed, changed, set] = await audit();

  assert.deepEqual([set.actor, set.action, set.target], ['alice', 'merchant.put', 'M-AUD']);
  assert.equal(set.before, null);
  assert.deepEqual([set.after.backend, set.after.comment], ['next', 'pilot']);

  assert.deepEqual([changed.actor, changed.action], ['ops', 'merchant.put']);
  assert.equal(changed.before.backend, 'next');
  assert.equal(changed.after.backend, 'legacy');

  assert.deepEqual([removed.actor, removed.action, removed.target], ['ops', 'merchant.delete', 'M-AUD']);
  assert.equal(removed.before.backend, 'legacy');
  assert.equal(removed.after, null);
});

test('refused writes leave no audit entry', async () => {
  const count = (await audit()).length;
  assert.equal((await call(ADMIN_TOKEN, 'PUT', '/admin/rules', { rules: [], default: 'nowhere' })).status, 400);
  assert.equal((await call(ADMIN_TOKEN, 'POST', '/admin/rules/rollback', { version: 99 })).status, 404);
  assert.equal((await call(ADMIN_TOKEN, 'PUT', '/admin/merchants/M-X', { backend: 'mainframe' })).status, 400);
  assert.equal((await call(ADMIN_TOKEN, 'DELETE', '/admin/merchants/M-NONE')).status, 404);
  assert.equal((await call(READONLY_TOKEN, 'PUT', '/admin/merchants/M-X', { backend: 'next' })).status, 403);
  assert.equal((await audit()).length, count);
});

test('the audit lists newest first and honours ?limit', async () => {
  const all = await audit();
  assert.deepEqual(all.map((e) => e.action), ['merchant.delete', 'merchant.put', 'merchant.put', 'rules.rollback', 'rules.put']);
  const times = all.map((e) => Date.parse(e.time));
  assert.deepEqual(times, [...times].sort((a, b) => b - a));
  assert.deepEqual(await audit('?limit=2'), all.slice(0, 2));
  for (const bad of ['0', 'ten', '1.5']) {
    const res = await call(ADMIN_TOKEN, 'GET', `/admin/audit?limit=${bad}`);
    assert.equal(res.status, 400, `limit=${bad}`);
    assert.equal(res.body.details[0].path, '/limit');
  }
});
