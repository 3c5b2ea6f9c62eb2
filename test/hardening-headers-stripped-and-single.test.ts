import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderId, useStack, v2Create } from './helpers/stack.ts';
import { rawRequest } from './helpers/raw-http.ts';

const stack = useStack();

const forwarded = () => stack.backends.legacy.state.requests + stack.backends.next.state.requests;

/** Sends raw header lines to GET /api/v1/echo and returns what the backend says it received. */
async function echoWith(lines: string[]): Promise<{ status?: number; headers: Record<string, string>; echoed: { headers: Record<string, string> } }> {
  const answer = await rawRequest(stack.gw.url, `GET /api/v1/echo HTTP/1.1\r\nHost: gateway\r\n${lines.map((l) => `${l}\r\n`).join('')}Connection: close\r\n\r\n`);
  assert.equal(answer.status, 200, answer.raw.slice(0, 300));
  return { status: answer.status, headers: answer.headers, echoed: JSON.parse(answer.body) };
}

test('X-Merchant-Id sent twice is 400 duplicate_header and nothing is forwarded', async () => {
  const before = forwarded();
  const answer = await rawRequest(stack.gw.url, 'GET /api/v1/echo HTTP/1.1\r\nHost: gateway\r\nX-Merchant-Id: M-A\r\nX-Merchant-Id: M-B\r\nConnection: close\r\n\r\n');
  assert.equal(answer.status, 400);
  assert.equal(JSON.parse(answer.body).error, 'duplicate_header');
  assert.equal(forwarded(), before);
});

test('Idempotency-Key sent twice on a v2 create is 400 duplicate_header and nothing is forwarded', async () => {
  const before = forwarded();
  const body = JSON.stringify(v2Create(orderId()));
  const answer = await rawRequest(stack.gw.url, 'POST /api/v2/payments HTTP/1.1\r\nHost: gateway\r\nX-Merchant-Id: M-A\r\n'
    + `Idempotency-Key: k-1\r\nIdempotency-Key: k-2\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  assert.equal(answer.status, 400);
  assert.equal(JSON.parse(answer.body).error, 'duplicate_header');
  assert.equal(forwarded(), before);
});

test('client-sent X-Cutover-* headers neither reach the backend nor steer the routing', async () => {
  const { headers, echoed } = await echoWith(['X-Merchant-Id: M-SPOOF', 'X-Cutover-Backend: next', 'X-Cutover-Reason: pinned', 'X-Cutover-Internal: 1']);
  assert.equal(headers['x-cutover-backend'], 'legacy', 'the rules decided, not the header');
  assert.deepEqual(Object.keys(echoed.headers).filter((h) => h.startsWith('x-cutover-')), []);
  assert.equal(echoed.headers['x-merchant-id'], 'M-SPOOF');
});

test('hop-by-hop headers and the headers named in Connection are not forwarded', async () => {
  const { echoed } = await echoWith([
    'X-Merchant-Id: M-HOP', 'Connection: x-foo, keep-alive', 'X-Foo: secret', 'Keep-Alive: timeout=999',
    'TE: trailers', 'Upgrade: h2c', 'Proxy-Connection: keep-alive', 'Proxy-Authorization: Basic Zm9vOmJhcg==', 'X-End-To-End: kept',
  ]);
  for (const name of ['x-foo', 'keep-alive', 'te', 'upgrade', 'proxy-connection', 'proxy-authorization']) {
    assert.equal(echoed.headers[name], undefined, `${name} reached the backend`);
  }
  assert.doesNotMatch(echoed.headers.connection ?? '', /x-foo/i);
  assert.equal(echoed.headers['x-end-to-end'], 'kept');
  assert.equal(echoed.headers['x-merchant-id'], 'M-HOP');
});

test('naming the merchant header or the request id in Connection does not strip them', async () => {
  const { echoed } = await echoWith(['X-Merchant-Id: M-KEEP', 'X-Request-Id: req-keep-1', 'Connection: X-Merchant-Id, X-Request-Id']);
  assert.equal(echoed.headers['x-merchant-id'], 'M-KEEP');
  assert.equal(echoed.headers['x-request-id'], 'req-keep-1');
});

test("the backend's Connection and Keep-Alive never decide the merchant's connection", async () => {
  const answer = await rawRequest(stack.gw.url, 'GET /api/v1/echo HTTP/1.1\r\nHost: gateway\r\nX-Merchant-Id: M-CLOSE\r\nConnection: close\r\n\r\n', { timeoutMs: 1500 });
  assert.equal(answer.status, 200);
  assert.equal(answer.headers.connection, 'close');
  assert.equal(answer.headers['keep-alive'], undefined, 'no keep-alive parameters of the backend leak out');
  assert.ok(answer.closedByServer, 'the merchant asked to close and the gateway closed');
});

test('Expect: 100-continue is answered by the gateway and not forwarded (no stalled exchange)', async () => {
  const body = '{"a":1}';
  const answer = await rawRequest(stack.gw.url, [
    `POST /api/v1/echo HTTP/1.1\r\nHost: gateway\r\nX-Merchant-Id: M-EXPECT\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
    body,
  ], { pauseMs: 100, timeoutMs: 1500 });
  assert.match(answer.raw, /^HTTP\/1\.1 100 Continue/);
  const final = answer.raw.slice(answer.raw.indexOf('\r\n\r\n') + 4);
  assert.match(final, /^HTTP\/1\.1 200 /);
  const echoed = JSON.parse(final.slice(final.indexOf('\r\n\r\n') + 4));
  assert.equal(echoed.body, body);
  assert.equal(echoed.headers.expect, undefined);
});

test('X-Forwarded-For keeps the real peer last; the other X-Forwarded-* cannot be spoofed', async () => {
  const { echoed } = await echoWith(['X-Merchant-Id: M-XFF', 'X-Forwarded-For: 203.0.113.9', 'X-Forwarded-Proto: https', 'X-Forwarded-Host: bank.example']);
  assert.equal(echoed.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  assert.equal(echoed.headers['x-forwarded-proto'], 'http');
  assert.notEqual(echoed.headers['x-forwarded-host'], 'bank.example');
  const plain = await echoWith(['X-Merchant-Id: M-XFF']);
  assert.equal(plain.echoed.headers['x-forwarded-for'], '127.0.0.1');
});
