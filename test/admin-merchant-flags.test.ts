import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderId, useStack, v1Create, v2Create } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';

const stack = useStack();

const create = (version: 'v1' | 'v2', merchant: string) => fetch(`${stack.gw.url}/api/${version}/payments`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', 'x-merchant-id': merchant, ...(version === 'v2' ? { 'idempotency-key': orderId('k') } : {}) },
  body: JSON.stringify(version === 'v1' ? v1Create(orderId()) : v2Create(orderId())),
});

test('a flag set through the admin API is listed, readable, and routes the merchant at once', async () => {
  const put = await admin(stack.gw, 'PUT', '/admin/merchants/M-FLAG', { backend: 'next', comment: 'pilot merchant' });
  assert.equal(put.status, 200);
  assert.equal(put.body.merchant, 'M-FLAG');
  assert.equal(put.body.backend, 'next');
  assert.equal(put.body.updatedBy, 'ops');
  assert.equal(put.body.comment, 'pilot merchant');

  const one = await admin(stack.gw, 'GET', '/admin/merchants/M-FLAG');
  assert.equal(one.status, 200);
  assert.deepEqual(one.body, put.body);
  const list = await admin(stack.gw, 'GET', '/admin/merchants');
  assert.deepEqual(list.body.merchants.map((f: { merchant: string }) => f.merchant), ['M-FLAG']);

  const pay = await create('v1', 'M-FLAG');
  assert.equal(pay.headers.get('x-cutover-backend'), 'next');
  assert.equal(pay.headers.get('x-cutover-reason'), 'merchant-flag');
  const other = await create('v1', 'M-NOFLAG');
  assert.equal(other.headers.get('x-cutover-backend'), 'legacy');
});

test('a flag to legacy applies to v1 only: v2 calls go on to the rules', async () => {
  assert.equal((await admin(stack.gw, 'PUT', '/admin/merchants/M-OLD', { backend: 'legacy' })).status, 200);
  const v1 = await create('v1', 'M-OLD');
  assert.equal(v1.headers.get('x-cutover-reason'), 'merchant-flag');
  assert.equal(v1.headers.get('x-cutover-backend'), 'legacy');
  const v2 = await create('v2', 'M-OLD');
  assert.equal(v2.status, 201);
  assert.equal(v2.headers.get('x-cutover-backend'), 'next');
  assert.equal(v2.headers.get('x-cutover-reason'), 'rule:v2-to-next');
});

test('deleting a flag answers what was removed and the merchant goes back to the rules', async () => {
  const del = await admin(stack.gw, 'DELETE', '/admin/merchants/M-FLAG');
  assert.equal(del.status, 200);
  assert.equal(del.body.deleted.backend, 'next');
  assert.equal((await admin(stack.gw, 'GET', '/admin/merchants/M-FLAG')).status, 404);
  const pay = await create('v1', 'M-FLAG');
  assert.equal(pay.headers.get('x-cutover-backend'), 'legacy');
  assert.equal(pay.headers.get('x-cutover-reason'), 'default');
});

test('unknown merchants are 404 on get and delete; a bad flag is 400 and changes nothing', async () => {
  for (const method of ['GET', 'DELETE']) {
    const res = await admin(stack.gw, method, '/admin/merchants/M-NEVER');
    assert.equal(res.status, 404, method);
    assert.equal(res.body.error, 'not_found');
  }
  const unknownBackend = await admin(stack.gw, 'PUT', '/admin/merchants/M-BAD', { backend: 'mainframe' });
  assert.equal(unknownBackend.status, 400);
  assert.equal(unknownBackend.body.error, 'invalid_request');
  assert.equal(unknownBackend.body.details[0].path, '/backend');
  assert.match(unknownBackend.body.details[0].message, /legacy, next/);

  const several = await admin(stack.gw, 'PUT', '/admin/merchants/M-BAD', { comment: 7, colour: 'red' });
  assert.equal(several.status, 400);
  assert.deepEqual(several.body.details.map((d: { path: string }) => d.path).sort(), ['/backend', '/colour', '/comment']);

  const badId = await admin(stack.gw, 'PUT', `/admin/merchants/${'x'.repeat(65)}`, { backend: 'next' });
  assert.equal(badId.status, 400);
  assert.equal(badId.body.details[0].path, '/merchant');

  assert.equal((await admin(stack.gw, 'GET', '/admin/merchants/M-BAD')).status, 404);
  assert.deepEqual((await admin(stack.gw, 'GET', '/admin/merchants')).body.merchants.map((f: { merchant: string }) => f.merchant), ['M-OLD']);
});
