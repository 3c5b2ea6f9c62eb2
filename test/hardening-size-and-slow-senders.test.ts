import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderId, useStack, v1Create } from './helpers/stack.ts';
import { rawRequest } from './helpers/raw-http.ts';

// limits.* hold: a body over bodyBytes is 413, a header section over headerBytes is 431,
// and senders that stall are cut off by headersTimeoutMs / requestTimeoutMs.

const LIMITS = { bodyBytes: 1024, headerBytes: 2048, headersTimeoutMs: 300, requestTimeoutMs: 800 };

const stack = useStack(() => ({ overrides: { limits: LIMITS } }));

const forwarded = () => stack.backends.legacy.state.requests + stack.backends.next.state.requests;

async function stillHealthy(): Promise<void> {
  const res = await fetch(`${stack.gw.url}/api/v1/payments`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-LIMIT' }, body: JSON.stringify(v1Create(orderId())),
  });
  assert.equal(res.status, 200);
}

test('a body over limits.bodyBytes is 413 payload_too_large, declared or chunked, modelled or not', async () => {
  const before = forwarded();
  const big = JSON.stringify({ ...v1Create(orderId()), subject: 'x'.repeat(2000) });
  const declared = await fetch(`${stack.gw.url}/api/v1/payments`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-LIMIT' }, body: big,
  });
  assert.equal(declared.status, 413);
  assert.equal((await declared.json()).error, 'payload_too_large');
  const chunked = await rawRequest(stack.gw.url, 'POST /api/v1/echo HTTP/1.1\r\nHost: gateway\r\nX-Merchant-Id: M-LIMIT\r\n'
    + 'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n'
    + `400\r\n${'a'.repeat(1024)}\r\n400\r\n${'b'.repeat(1024)}\r\n0\r\n\r\n`);
  assert.equal(chunked.status, 413, chunked.raw.slice(0, 200));
  assert.equal(JSON.parse(chunked.body).error, 'payload_too_large');
  assert.ok(chunked.closedByServer, 'the connection is closed: the rest of the body is not read');
  assert.equal(forwarded(), before);
  await stillHealthy();
});

test('a header section over limits.headerBytes is 431 JSON and nothing is forwarded', async () => {
  const before = forwarded();
  const answer = await rawRequest(stack.gw.url, `GET /api/v1/echo HTTP/1.1\r\nHost: gateway\r\nX-Merchant-Id: M-LIMIT\r\nX-Padding: ${'p'.repeat(3000)}\r\n\r\n`);
  assert.equal(answer.status, 431);
  assert.equal(JSON.parse(answer.body).error, 'header_too_large');
  assert.ok(answer.closedByServer);
  assert.equal(forwarded(), before);
  await stillHealthy();
});

test('a slowloris header section is cut off after limits.headersTimeoutMs', async () => {
  const before = forwarded();
  // The header section never ends; a gateway without the limit would wait past the 4 s deadline.
  const answer = await rawRequest(stack.gw.url, ['GET /api/v1/echo HTTP/1.1\r\nHost: gateway\r\n', 'X-Merchant-Id: M-SLOW\r\n', 'X-Slow: 1\r\n'], { pauseMs: 100, timeoutMs: 4000 });
  assert.ok(answer.closedByServer, 'the gateway closed the connection');
  assert.equal(answer.status, 408);
  assert.equal(JSON.parse(answer.body).error, 'request_timeout');
  assert.ok(answer.elapsedMs >= LIMITS.headersTimeoutMs, `not cut before the limit (${answer.elapsedMs} ms)`);
  assert.equal(forwarded(), before);
  await stillHealthy();
});

test('a half-sent body is cut off after limits.requestTimeoutMs and nothing is forwarded', async () => {
  const before = forwarded();
  const answer = await rawRequest(stack.gw.url, 'POST /api/v1/payments HTTP/1.1\r\nHost: gateway\r\nX-Merchant-Id: M-SLOW\r\n'
    + 'Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{"out_trade_no":', { timeoutMs: 4000 });
  assert.ok(answer.closedByServer, 'the gateway closed the connection');
  assert.ok(answer.elapsedMs >= LIMITS.requestTimeoutMs - 50, `not cut before the limit (${answer.elapsedMs} ms)`);
  if (answer.status !== undefined) assert.ok(answer.status === 408 || answer.status === 400, `status ${answer.status}`);
  assert.equal(forwarded(), before);
  await stillHealthy();
});
