import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testConfig } from './helpers/stack.ts';
import { useRecordingStack } from './helpers/recording-backend.ts';
import { rawRequest } from './helpers/raw-http.ts';
import { buildConfig } from '../gateway/config.ts';

// SPEC 10 / issue 13: under /api/vN/payments a request is exactly one modelled endpoint or
// it is refused; no percent-encoded octet in any path; unmodelled endpoints only with
// allowed methods. Raw TCP, because HTTP clients normalise paths before sending.

const stack = useRecordingStack({ unmodelled: { methods: ['GET', 'POST'] } });

const REFUND = '{"refund_amount":"-99999.999","evil":true}';
function send(method: string, target: string, body = '') {
  return rawRequest(stack.gw.url, `${method} ${target} HTTP/1.1\r\nHost: gateway\r\nX-Merchant-Id: M-NS\r\nIdempotency-Key: k-ns-1\r\n`
    + `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
async function refused(method: string, target: string, status: number, code: string, body = '') {
  const before = stack.rec.received.length;
  const answer = await send(method, target, body);
  assert.equal(answer.status, status, `${method} ${target}: ${answer.raw.slice(0, 300)}`);
  assert.equal(JSON.parse(answer.body).error, code, `${method} ${target}`);
  assert.equal(stack.rec.received.length, before, `${method} ${target} reached the backend`);
  return answer;
}

test('spellings of a modelled path that a backend could read as it are 404 unknown_endpoint, nothing forwarded', async () => {
  for (const target of [
    '/api/v1/payments/2026120100000001/refund/', '/api/v1/payments/2026120100000001/Refund', '/api/v1/payments/2026120100000001/REFUND',
    '/api/v1/Payments/2026120100000001/refund',
    '/api/v1/PAYMENTS', '/api/v1/payments/', '/api/v2/payments/pay_1/refunds/', '/api/v2/Payments', '/api/v1/payments/2026120100000001/refund/x',
    '/api/v1/payments/2026120100000001/capture', '/api/v1/payments/a.b', '/api/v1/payments.json', '/api/v2/payments:batch',
  ]) await refused('POST', target, 404, 'unknown_endpoint', REFUND);
});

test('any percent-encoded octet in a path is 400 encoded_path, in or out of the namespace', async () => {
  for (const target of ['/api/v1/payments/%32026120100000001/refund', '/api/v1/payments%2F2026120100000001/refund', '/api/v1/%70ayments', '/api/v1/echo%20x', '/api/v1/echo%']) {
    await refused('POST', target, 400, 'encoded_path', REFUND);
  }
});

test('a ";" anywhere in a path is 400 path_parameter, in or out of the namespace, nothing forwarded', async () => {
  // Tomcat and Spring strip ";params" per segment: "/api/v1/echo/..;/payments/T/refund" is the refund endpoint there.
  for (const target of [
    '/api/v1/echo/..;/payments/2026120100000001/refund', '/api/v1/payments/2026120100000001/refund;x=1', '/api/v1/payments;x=1/2026120100000001/refund',
    '/api/v1/payments/2026120100000001;/refund', '/api/v1/echo;jsessionid=1', '/api/v2;/payments/pay_1/refunds', '/;/api/v1/echo',
  ]) await refused('POST', target, 400, 'path_parameter', REFUND);
});

test('a modelled path with another method is 405 with Allow naming the methods it has', async () => {
  const answer = await refused('PUT', '/api/v1/payments/2026120100000001/refund', 405, 'method_not_allowed', REFUND);
  assert.equal(answer.headers.allow, 'POST');
  assert.equal((await refused('DELETE', '/api/v2/payments', 405, 'method_not_allowed')).headers.allow, 'POST, GET');
  const head = await send('HEAD', '/api/v1/payments/2026120100000001');
  assert.equal(head.status, 405);
  assert.equal(head.headers.allow, 'GET');
});

test('outside the namespace only the configured methods are proxied; TRACE and PROPFIND never are', async () => {
  for (const method of ['TRACE', 'PROPFIND', 'DELETE', 'OPTIONS']) {
    const answer = await refused(method, '/api/v1/echo', 405, 'method_not_allowed');
    assert.equal(answer.headers.allow, 'GET, POST');
  }
  const before = stack.rec.received.length;
  const answer = await send('POST', '/api/v1/payments-reports/daily', '{"x":1}');
  assert.equal(answer.status, 200, answer.raw.slice(0, 300));
  assert.equal(stack.rec.received.length, before + 1);
  assert.equal(stack.rec.received.at(-1)!.url, '/api/v1/payments-reports/daily', 'another name that starts with "payments" is outside');
});

test('the exact modelled spelling is still served, validated and forwarded once', async () => {
  const body = '{"out_request_no":"R-NS-1","refund_amount":"1.00"}';
  const before = stack.rec.received.length;
  const answer = await send('POST', '/api/v1/payments/2026120100000001/refund', body);
  assert.equal(answer.status, 200, answer.raw.slice(0, 300));
  assert.equal(stack.rec.received.length, before + 1);
  assert.equal(stack.rec.received.at(-1)!.url, '/api/v1/payments/2026120100000001/refund');
  assert.deepEqual(JSON.parse(stack.rec.received.at(-1)!.body.toString()), JSON.parse(body));
});

test('unmodelled.methods defaults to GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS and refuses a malformed method name', () => {
  const urls = { legacy: stack.rec.url, next: stack.rec.url };
  assert.deepEqual(buildConfig(testConfig(urls)).unmodelled.methods, ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
  assert.throws(() => buildConfig(testConfig(urls, { unmodelled: { methods: ['get'] } })), /unmodelled/);
});
