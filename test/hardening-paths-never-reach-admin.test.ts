import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './helpers/stack.ts';
import { rawRequest } from './helpers/raw-http.ts';

// SPEC 10: the data plane never exposes admin, metrics or internal paths, whatever the
// spelling. Raw TCP, because HTTP clients normalise dot segments before sending.

const stack = useStack();

const forwarded = () => stack.backends.legacy.state.requests + stack.backends.next.state.requests;
const get = (target: string) =>
  rawRequest(stack.gw.url, `GET ${target} HTTP/1.1\r\nHost: gateway\r\nX-Merchant-Id: M-PATH\r\nAuthorization: Bearer anything\r\nConnection: close\r\n\r\n`);

const REFUSED: Array<[string, number, string]> = [
  ['/api/v1/../admin/rules', 400, 'bad_request'],
  ['/api/v1/%2e%2e/admin', 400, 'encoded_path'],
  ['/api/v1/%2E%2E/admin/rules', 400, 'encoded_path'],
  ['/api/v1/.%2e/admin', 400, 'encoded_path'],
  ['/api/v1/./payments', 400, 'bad_request'],
  ['/api/v1/payments%2fx', 400, 'encoded_path'],
  ['/api/v1/payments%2Fx', 400, 'encoded_path'],
  ['//api/v1/payments', 400, 'bad_request'],
  ['/api/v1//payments', 400, 'bad_request'],
  ['/api/v1/payments\\x', 400, 'bad_request'],
  ['/api/v1/payments%5cx', 400, 'encoded_path'],
  ['/api/v1/payments%00', 400, 'encoded_path'],
  ['/api/v1/echo#fragment', 400, 'bad_request'],
  ['http://127.0.0.1/admin/rules', 400, 'bad_request'],
  ['/admin/rules', 404, 'not_found'],
  ['/admin/audit', 404, 'not_found'],
  ['/metrics', 404, 'not_found'],
  ['/healthz', 404, 'not_found'],
  ['/_control', 404, 'not_found'],
  ['/API/v1/echo', 404, 'not_found'],
  ['/api/v3/payments', 404, 'unknown_api_version'],
];

for (const [target, status, code] of REFUSED) {
  test(`${JSON.stringify(target)} is ${status} ${code}, JSON, nothing forwarded`, async () => {
    const before = forwarded();
    const answer = await get(target);
    assert.equal(answer.status, status, answer.raw.slice(0, 300));
    assert.match(answer.headers['content-type'] ?? '', /^application\/json/);
    const body = JSON.parse(answer.body);
    assert.equal(body.error, code);
    assert.doesNotMatch(answer.body, /"rules"|cutover_|"version"/, 'no admin or metrics content');
    assert.equal(forwarded(), before);
  });
}

test('a query string may hold any of those sequences: only the path is checked', async () => {
  const answer = await get('/api/v1/echo?next=%2e%2e%2fadmin');
  assert.equal(answer.status, 200);
  assert.equal(JSON.parse(answer.body).path, '/api/v1/echo?next=%2e%2e%2fadmin');
});

test('the process is still healthy afterwards', async () => {
  const res = await fetch(`${stack.gw.url}/api/v1/echo`, { headers: { 'x-merchant-id': 'M-PATH' } });
  assert.equal(res.status, 200);
  assert.equal((await fetch(`${stack.gw.adminUrl}/healthz`)).status, 200);
});
