import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, READONLY_TOKEN } from './helpers/stack.ts';
import { useRecordingStack } from './helpers/recording-backend.ts';
import { logSink } from './helpers/log-sink.ts';

// A refused admin call (401 no or bad token, 403 read-only token writing) leaves one log
// line: actor, remote address, method, path. Never the token, never the query string.

const log = logSink();
const stack = useRecordingStack({ logLevel: 'info' }, { logTo: log.stream });

const refusals = () => log.records().filter((l) => l.msg === 'admin call refused');
const WRONG = 'wrong-token-that-must-never-be-logged-42';

test('a missing or wrong token is 401 and logged with actor unknown, remote address and path', async () => {
  const before = refusals().length;
  assert.equal((await fetch(`${stack.gw.adminUrl}/admin/rules?secret=q`)).status, 401);
  assert.equal((await fetch(`${stack.gw.adminUrl}/admin/audit`, { headers: { authorization: `Bearer ${WRONG}` } })).status, 401);
  const logged = refusals().slice(before);
  assert.equal(logged.length, 2);
  assert.deepEqual(logged.map((l) => [l.status, l.error, l.actor, l.method, l.path, l.remoteAddress]), [
    [401, 'unauthorized', 'unknown', 'GET', '/admin/rules', '127.0.0.1'],
    [401, 'unauthorized', 'unknown', 'GET', '/admin/audit', '127.0.0.1'],
  ]);
});

test('failed logins on the console reads /admin/whoami and /admin/traffic are logged too', async () => {
  const before = refusals().length;
  assert.equal((await fetch(`${stack.gw.adminUrl}/admin/whoami`)).status, 401);
  assert.equal((await fetch(`${stack.gw.adminUrl}/admin/traffic?x=1`, { headers: { authorization: `Bearer ${WRONG}` } })).status, 401);
  const logged = refusals().slice(before);
  assert.deepEqual(logged.map((l) => [l.status, l.error, l.actor, l.method, l.path, l.remoteAddress]), [
    [401, 'unauthorized', 'unknown', 'GET', '/admin/whoami', '127.0.0.1'],
    [401, 'unauthorized', 'unknown', 'GET', '/admin/traffic', '127.0.0.1'],
  ]);
  assert.equal(stack.rec.received.length, 0, 'the admin port never reaches a backend');
});

test('a read-only token writing is 403 and logged with its name', async () => {
  const before = refusals().length;
  const res = await fetch(`${stack.gw.adminUrl}/admin/merchants/M-1`, {
    method: 'PUT', headers: { authorization: `Bearer ${READONLY_TOKEN}`, 'content-type': 'application/json' }, body: '{"backend":"next"}',
  });
  assert.equal(res.status, 403);
  const logged = refusals().slice(before);
  assert.equal(logged.length, 1);
  assert.equal(logged[0].actor, 'viewer');
  assert.equal(logged[0].path, '/admin/merchants/M-1');
  assert.equal(logged[0].method, 'PUT');
});

test('no log line holds a token, and an accepted call is not logged as refused', async () => {
  const before = refusals().length;
  assert.equal((await fetch(`${stack.gw.adminUrl}/admin/rules`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status, 200);
  assert.equal(refusals().length, before);
  const all = JSON.stringify(log.records());
  for (const secret of [WRONG, READONLY_TOKEN, ADMIN_TOKEN, 'secret=q']) assert.ok(!all.includes(secret), `${secret} was logged`);
  assert.equal(stack.rec.received.length, 0, 'the admin port never reaches a backend');
});
