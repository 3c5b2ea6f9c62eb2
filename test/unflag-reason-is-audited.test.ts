import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminCall, useStack } from './helpers/stack.ts';

// Issue 17: flag and unflag a merchant "with the reason recorded".
const stack = useStack(() => ({ redis: true }));

test('DELETE /admin/merchants/{id} with {comment} records the reason in the audit entry', async () => {
  assert.equal((await adminCall(stack.gw, 'PUT', '/admin/merchants/M-WHY', { backend: 'next', comment: 'pilot merchant' })).status, 200);
  const del = await adminCall(stack.gw, 'DELETE', '/admin/merchants/M-WHY', { comment: 'pilot over, back to the rules' });
  assert.equal(del.status, 200);
  assert.equal((await del.json()).deleted.backend, 'next');
  const [entry] = (await (await adminCall(stack.gw, 'GET', '/admin/audit')).json()).entries;
  assert.deepEqual([entry.action, entry.target, entry.comment, entry.after], ['merchant.delete', 'M-WHY', 'pilot over, back to the rules', null]);
  assert.equal(entry.before.comment, 'pilot merchant');
});

test('a DELETE without a body still removes the flag; a bad reason is 400 and removes nothing', async () => {
  assert.equal((await adminCall(stack.gw, 'PUT', '/admin/merchants/M-WHY2', { backend: 'next' })).status, 200);
  const bad = await adminCall(stack.gw, 'DELETE', '/admin/merchants/M-WHY2', { comment: 7, why: 'x' });
  assert.equal(bad.status, 400);
  assert.deepEqual((await bad.json()).details.map((d: { path: string }) => d.path).sort(), ['/comment', '/why']);
  assert.equal((await adminCall(stack.gw, 'GET', '/admin/merchants/M-WHY2')).status, 200);
  const plain = await adminCall(stack.gw, 'DELETE', '/admin/merchants/M-WHY2');
  assert.equal(plain.status, 200);
  const [entry] = (await (await adminCall(stack.gw, 'GET', '/admin/audit')).json()).entries;
  assert.equal(entry.action, 'merchant.delete');
  assert.equal('comment' in entry, false);
});
