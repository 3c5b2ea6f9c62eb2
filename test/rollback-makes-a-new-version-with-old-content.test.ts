import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RULES, merchantPost, orderId, useStack, v1Create } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';

const stack = useStack();

const createV1 = (merchant: string) => merchantPost(stack.gw, '/api/v1/payments', merchant, v1Create(orderId()));

test('rolling back to version 1 writes a new version with version 1 content, and v1 traffic goes back to legacy', async () => {
  const moved = await admin(stack.gw, 'PUT', '/admin/rules', { rules: [{ name: 'all-next', match: {}, backend: 'next' }], default: 'next', comment: 'everything to next' });
  assert.equal(moved.body.version, 2);
  assert.equal((await createV1('M-RB')).headers.get('x-cutover-backend'), 'next');

  const rb = await admin(stack.gw, 'POST', '/admin/rules/rollback', { version: 1 });
  assert.equal(rb.status, 200);
  assert.equal(rb.body.version, 3, 'a rollback is a new version; history is never rewritten');
  assert.equal(rb.body.rolledBackTo, 1);
  assert.equal(rb.body.updatedBy, 'ops');
  assert.equal(rb.headers.get('etag'), '"3"');

  const now = await admin(stack.gw, 'GET', '/admin/rules');
  assert.equal(now.body.version, 3);
  assert.deepEqual(now.body.rules, DEFAULT_RULES.rules);
  assert.equal(now.body.default, DEFAULT_RULES.default);
  assert.match(now.body.comment, /rollback to version 1/);

  const pay = await createV1('M-RB2');
  assert.equal(pay.headers.get('x-cutover-rules-version'), '3');
  assert.equal(pay.headers.get('x-cutover-backend'), 'legacy');
  assert.equal(pay.headers.get('x-cutover-reason'), 'default');

  const { body } = await admin(stack.gw, 'GET', '/admin/rules/history');
  assert.deepEqual(body.versions.map((v: { version: number }) => v.version), [1, 2, 3]);
  assert.deepEqual((await admin(stack.gw, 'GET', '/admin/rules/versions/2')).body.rules, [{ name: 'all-next', match: {}, backend: 'next' }], 'version 2 is kept');
});

test('a rollback target that is not a version number is 400; an unknown version is 404; neither writes', async () => {
  for (const body of [{ version: 'one' }, { version: 0 }, { version: 1.5 }, {}, { version: '2' }]) {
    const res = await admin(stack.gw, 'POST', '/admin/rules/rollback', body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.body.error, 'invalid_request');
    assert.equal(res.body.details[0].path, '/version');
  }
  const missing = await admin(stack.gw, 'POST', '/admin/rules/rollback', { version: 999 });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error, 'not_found');
  assert.match(missing.body.message, /999/);
  assert.equal((await admin(stack.gw, 'GET', '/admin/rules')).body.version, 3);
});
