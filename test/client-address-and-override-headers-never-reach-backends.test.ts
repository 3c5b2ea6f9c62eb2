import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useRecordingStack } from './helpers/recording-backend.ts';
import { rawRequest } from './helpers/raw-http.ts';

// A backend reads its client's address, scheme, prefix, method and URL from headers a
// merchant can send: only the gateway's own X-Forwarded-For/-Proto/-Host/-Port reach it.
// A header that a CGI/WSGI backend folds into a routed one (X_Merchant_Id) is refused.

const stack = useRecordingStack();

const send = (method: string, path: string, headers: string, body = '') =>
  rawRequest(stack.gw.url, `${method} ${path} HTTP/1.1\r\nHost: shop.example\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);

const CLAIMS = [
  'X-Forwarded-Prefix: /admin', 'X-Forwarded-Uri: /api/v1/payments/T/refund', 'X-Forwarded-Scheme: https', 'X-Forwarded-Ssl: on',
  'X-Forwarded-Server: evil', 'X-Forwarded-Path: /x', 'X-Client-IP: 10.0.0.1', 'True-Client-IP: 10.0.0.2', 'X-Cluster-Client-IP: 10.0.0.3',
  'X-HTTP-Method-Override: DELETE', 'X-Method-Override: PUT', 'X-HTTP-Method: PATCH', 'X-Original-URL: /api/v1/payments/T/refund',
  'X-Rewrite-URL: /api/v1/payments/T/close', 'X_Forwarded_For: 6.6.6.6', 'X_Real_IP: 6.6.6.6', 'Via: 1.1 merchant-proxy',
].map((h) => `${h}\r\n`).join('');

test('client address, scheme, prefix, method-override and URL-rewrite headers never reach a backend', async () => {
  const answer = await send('GET', '/api/v1/echo', `X-Merchant-Id: M-HDR\r\n${CLAIMS}X-Custom: kept\r\n`);
  assert.equal(answer.status, 200, answer.raw.slice(0, 300));
  const got = stack.rec.received.at(-1)!;
  const names = got.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  assert.deepEqual(names.filter((n) => n.startsWith('x-forwarded-')).sort(), ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-proto']);
  for (const name of ['x-client-ip', 'true-client-ip', 'x-cluster-client-ip', 'x-http-method-override', 'x-method-override', 'x-http-method',
    'x-original-url', 'x-rewrite-url', 'x_forwarded_for', 'x_real_ip']) assert.ok(!names.includes(name), `${name} reached the backend`);
  assert.equal(got.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(got.headers['x-custom'], 'kept');
  assert.equal(got.method, 'GET');
  assert.equal(got.url, '/api/v1/echo');
});

test('the gateway appends its own Via entry to every forwarded request (RFC 9110 7.6.3), none to answers', async () => {
  const plain = await send('GET', '/api/v1/echo', 'X-Merchant-Id: M-HDR\r\n');
  assert.equal(stack.rec.received.at(-1)!.headers.via, '1.1 cutover');
  assert.equal(plain.headers.via, undefined);
  await send('GET', '/api/v1/echo', 'X-Merchant-Id: M-HDR\r\nVia: 1.1 merchant-proxy\r\n');
  assert.equal(stack.rec.received.at(-1)!.headers.via, '1.1 merchant-proxy, 1.1 cutover');
});

test('a routed header spelled with "_" (X_Merchant_Id, Idempotency_Key) is 400 invalid_header and forwards nothing', async () => {
  const refund = '{"refund_amount":"1.00"}';
  for (const [path, headers] of [
    ['/api/v1/payments/2026120100000001/refund', 'X-Merchant-Id: M-HDR\r\nX_Merchant_Id: M-VICTIM\r\n'],
    ['/api/v1/payments/2026120100000001/refund', 'X_MERCHANT_ID: M-VICTIM\r\n'],
    ['/api/v1/echo', 'X-Merchant-Id: M-HDR\r\nx_merchant-id: M-VICTIM\r\n'],
    ['/api/v2/payments/pay_1/refunds', 'X-Merchant-Id: M-HDR\r\nIdempotency-Key: k1\r\nIdempotency_Key: k2\r\n'],
  ]) {
    const before = stack.rec.received.length;
    const answer = await send('POST', path, `${headers}Content-Type: application/json\r\n`, refund);
    assert.equal(answer.status, 400, `${JSON.stringify(headers)}: ${answer.raw.slice(0, 300)}`);
    assert.equal(JSON.parse(answer.body).error, 'invalid_header', JSON.stringify(headers));
    assert.equal(stack.rec.received.length, before, `${JSON.stringify(headers)} reached the backend`);
  }
});
