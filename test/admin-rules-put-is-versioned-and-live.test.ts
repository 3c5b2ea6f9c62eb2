import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RULES, merchantPost, orderId, startGateway, testConfig, useStack, v1Create } from './helpers/stack.ts';
import { adminApi } from './helpers/admin.ts';

const stack = useStack();
/** The admin app under test, in-process. */
const api = () => adminApi(stack.gw);

const createV1 = (merchant: string) => merchantPost(stack.gw, '/api/v1/payments', merchant, v1Create(orderId()));

const V1_TO_NEXT = {
  rules: [...DEFAULT_RULES.rules, { name: 'v1-to-next', match: { apiVersion: 'v1' }, backend: 'next' }],
  default: 'legacy',
};

test('GET /admin/rules shows the ruleset with its version, author, time and ETag', async () => {
  const res = await api().get('/admin/rules');
  assert.equal(res.status, 200);
  const { body } = res;
  assert.equal(body.version, 1);
  assert.equal(res.headers.etag, '"1"');
  assert.equal(body.updatedBy, 'config');
  assert.ok(Math.abs(Date.parse(body.updatedAt) - Date.now()) < 60_000, `updatedAt ${body.updatedAt} is now`);
  assert.deepEqual(body.rules, DEFAULT_RULES.rules);
  assert.equal(body.default, 'legacy');
  assert.deepEqual(body.effectiveSplit, [], 'no split rule, no effective split');
});

test('a PUT answers the new version, and the next merchant request on this instance routes by it', async () => {
  const put = await api().put('/admin/rules').set('if-match', '"1"').send({ ...V1_TO_NEXT, comment: 'move v1 to next' });
  assert.equal(put.status, 200);
  const stored = put.body;
  assert.equal(stored.version, 2);
  assert.equal(stored.updatedBy, 'ops');
  assert.equal(put.headers.etag, '"2"');

  const pay = await createV1('M-LIVE');
  assert.equal(pay.status, 200);
  assert.equal(pay.headers.get('x-cutover-rules-version'), '2');
  assert.equal(pay.headers.get('x-cutover-backend'), 'next');
  assert.equal(pay.headers.get('x-cutover-reason'), 'rule:v1-to-next');
  assert.match((await pay.json()).trade_no, /^pay_/, 'the next backend created it');

  const now = (await api().get('/admin/rules')).body;
  assert.equal(now.version, 2);
  assert.equal(now.comment, 'move v1 to next');
  assert.deepEqual(now.rules, V1_TO_NEXT.rules);
});

test('history lists every version with time, actor and comment; versions/{n} shows one old version', async () => {
  const { versions } = (await api().get('/admin/rules/history')).body;
  assert.deepEqual(versions.map((v: { version: number }) => v.version), [1, 2]);
  assert.equal(versions[0].updatedBy, 'config');
  assert.match(versions[0].comment, /initial ruleset/);
  assert.equal(versions[1].updatedBy, 'ops');
  assert.equal(versions[1].comment, 'move v1 to next');
  for (const v of versions) assert.ok(!Number.isNaN(Date.parse(v.updatedAt)), `version ${v.version} has a time`);
  assert.equal(versions[0].rules, undefined, 'history lists versions, not their content');

  const one = await api().get('/admin/rules/versions/1');
  assert.equal(one.status, 200);
  const v1 = one.body;
  assert.equal(v1.version, 1);
  assert.deepEqual(v1.rules, DEFAULT_RULES.rules);
  for (const n of ['99', '0', 'abc']) {
    const missing = await api().get(`/admin/rules/versions/${n}`);
    assert.equal(missing.status, 404, `versions/${n}`);
    assert.equal(missing.body.error, 'not_found');
  }
});

test('an invalid ruleset is refused with every semantic problem listed, and routing does not change', async () => {
  const res = await api().put('/admin/rules').send({
    rules: [
      { name: 'a', match: { apiVersion: 'v1' }, backend: 'mainframe' },
      { name: 'a', match: { merchants: ['M-1'] }, split: [{ backend: 'next', weight: 60 }, { backend: 'next-b', weight: 30 }], stickyBy: 'merchant' },
      { name: 'v2-old', match: { apiVersion: 'v2' }, backend: 'legacy' },
    ],
    default: 'nowhere',
  });
  assert.equal(res.status, 400);
  const { body } = res;
  assert.equal(body.error, 'invalid_ruleset');
  const paths = body.details.map((d: { path: string }) => d.path);
  for (const p of ['/rules/0/backend', '/rules/1/name', '/rules/1/split/1/backend', '/rules/1/split', '/rules/2/backend', '/default']) {
    assert.ok(paths.includes(p), `details name ${p}: ${JSON.stringify(body.details)}`);
  }
  assert.ok(body.details.every((d: { message: string }) => d.message.length > 0));
  assert.equal(((await api().get('/admin/rules')).body).version, 2, 'no version was written');
  assert.equal((await createV1('M-AFTER-BAD')).headers.get('x-cutover-rules-version'), '2');
});

test('a ruleset that breaks the schema is refused with every schema problem listed', async () => {
  const res = await api().put('/admin/rules').send({ rules: [{ name: 'x', backend: 'next', weight: 3 }, { name: 'bad name!', match: {}, backend: 'next' }] });
  assert.equal(res.status, 400);
  const { body } = res;
  assert.equal(body.error, 'invalid_ruleset');
  assert.deepEqual(body.details.map((d: { path: string }) => d.path).sort(), ['/default', '/rules/0/match', '/rules/0/weight', '/rules/1/name']);

  const notJson = await api().put('/admin/rules').type('application/json').send('{"rules": [');
  assert.equal(notJson.status, 400);
  assert.equal(notJson.body.error, 'invalid_json');
});

test('a write whose change notification cannot be sent is still answered 200 and live on this instance', async (t) => {
  const store = stack.gw.store as { publish: (e: unknown) => Promise<void> };
  const publish = store.publish;
  store.publish = async () => { throw new Error('injected: pub/sub is down'); };
  t.after(() => { store.publish = publish; });
  const { version } = (await api().get('/admin/rules')).body;
  const put = await api().put('/admin/rules').set('if-match', `"${version}"`).send({ rules: DEFAULT_RULES.rules, default: 'next' });
  assert.equal(put.status, 200, 'the write is stored; other instances pick it up at their periodic re-read');
  const pay = await createV1('M-NOPUB');
  assert.equal(pay.headers.get('x-cutover-rules-version'), String(version + 1));
  assert.equal(pay.headers.get('x-cutover-backend'), 'next');
});

test('a comment in the initial rules file becomes the comment of version 1, not part of the rules', async (t) => {
  const seeded = await startGateway(testConfig(stack.backends.urls, {}, { ...DEFAULT_RULES, comment: 'first cut' }));
  t.after(() => seeded.close());
  const { body } = await adminApi(seeded).get('/admin/rules');
  assert.equal(body.version, 1);
  assert.match(body.comment, /^initial ruleset from \S+rules\.json: first cut$/);
  const v1 = (await adminApi(seeded).get('/admin/rules/versions/1')).body;
  assert.equal(v1.comment, body.comment);
});
