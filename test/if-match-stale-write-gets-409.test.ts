import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminApi } from './helpers/admin.ts';
import { DEFAULT_RULES, useStack } from './helpers/stack.ts';

const stack = useStack();

/** `PUT /admin/rules` on the admin app, with `If-Match` when given. */
const putRules = (body: object, ifMatch?: string) => {
  const req = adminApi(stack.gw).put('/admin/rules');
  return (ifMatch === undefined ? req : req.set('if-match', ifMatch)).send(body);
};
const current = async () => {
  const res = await adminApi(stack.gw).get('/admin/rules');
  return { etag: res.headers.etag as string, body: res.body };
};
const withDefault = (backend: string) => ({ rules: DEFAULT_RULES.rules, default: backend });

test('two operators read the same version: the first write wins, the second gets 409 and nothing of it is stored', async () => {
  const a = await current();
  const b = await current();
  assert.equal(a.etag, b.etag);

  const first = await putRules({ ...withDefault('next'), comment: 'operator A' }, a.etag);
  assert.equal(first.status, 200);
  const second = await putRules({ ...withDefault('legacy'), comment: 'operator B' }, b.etag);
  assert.equal(second.status, 409);
  const err = second.body;
  assert.equal(err.error, 'version_conflict');
  assert.equal(err.details.current, a.body.version + 1, 'the conflict names the version to re-read');

  const after = await current();
  assert.equal(after.body.version, a.body.version + 1);
  assert.equal(after.body.default, 'next');
  assert.equal(after.body.comment, 'operator A');

  // Operator B re-reads and retries on the fresh ETag.
  const retry = await putRules({ ...withDefault('legacy'), comment: 'operator B again' }, after.etag);
  assert.equal(retry.status, 200);
  assert.equal(retry.body.version, after.body.version + 1);
});

test('If-Match accepts the ETag strong or weak, "*" and a bare number; without it the write is unconditional', async () => {
  const { body } = await current();
  let version = body.version;
  for (const ifMatch of [`"${version}"`, `W/"${version + 1}"`, '*', String(version + 3), undefined]) {
    const res = await putRules(withDefault(version % 2 ? 'next' : 'legacy'), ifMatch);
    assert.equal(res.status, 200, `If-Match ${ifMatch}`);
    version += 1;
    assert.equal(res.body.version, version);
  }
});

test('a malformed If-Match is refused with 400, not treated as unconditional', async () => {
  const before = (await current()).body.version;
  for (const bad of ['"abc"', 'three', '"3', '"1", "2"']) {
    const res = await putRules(withDefault('next'), bad);
    assert.equal(res.status, 400, `If-Match ${bad}`);
    assert.equal(res.body.error, 'invalid_header');
  }
  assert.equal((await current()).body.version, before);
});
