import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './helpers/stack.ts';
import { rawRequest } from './helpers/raw-http.ts';

// Request smuggling (RFC 9112 6.3, 11.2): a message whose length two parties could read
// differently must be refused before anything is forwarded, and the connection closed.

const stack = useStack();

const forwarded = () => stack.backends.legacy.state.requests + stack.backends.next.state.requests;
const HEAD = 'Host: gateway\r\nX-Merchant-Id: M-SMUGGLE\r\nContent-Type: application/json\r\n';
// Each shape carries a second request after the first one's plausible end: it must never reach a backend.
const SECOND = 'GET /api/v1/echo HTTP/1.1\r\nHost: gateway\r\nX-Merchant-Id: M-SMUGGLE\r\n\r\n';

const SHAPES: Record<string, string> = {
  'Content-Length and Transfer-Encoding': `POST /api/v1/echo HTTP/1.1\r\n${HEAD}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SECOND}`,
  'two different Content-Length': `POST /api/v1/echo HTTP/1.1\r\n${HEAD}Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}${SECOND}`,
  'Content-Length twice, same value': `POST /api/v1/echo HTTP/1.1\r\n${HEAD}Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}${SECOND}`,
  'Transfer-Encoding: chunked, deflate': `POST /api/v1/echo HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked, deflate\r\n\r\n0\r\n\r\n${SECOND}`,
  'Transfer-Encoding twice (chunked, chunked)': `POST /api/v1/echo HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SECOND}`,
  'Transfer-Encoding twice (gzip, chunked)': `POST /api/v1/echo HTTP/1.1\r\n${HEAD}Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n${SECOND}`,
  'Transfer-Encoding: gzip, chunked': `POST /api/v1/echo HTTP/1.1\r\n${HEAD}Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n${SECOND}`,
  'Transfer-Encoding with a space before the colon': `POST /api/v1/echo HTTP/1.1\r\n${HEAD}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n${SECOND}`,
  'Content-Length overflow': `POST /api/v1/echo HTTP/1.1\r\n${HEAD}Content-Length: 99999999999999999999\r\n\r\n{}${SECOND}`,
  'negative Content-Length': `POST /api/v1/echo HTTP/1.1\r\n${HEAD}Content-Length: -1\r\n\r\n{}${SECOND}`,
  'bare LF line endings': `POST /api/v1/echo HTTP/1.1\nHost: gateway\nX-Merchant-Id: M-SMUGGLE\nContent-Length: 2\n\n{}${SECOND}`,
  'one bare LF among CRLF': `GET /api/v1/echo HTTP/1.1\r\nHost: gateway\nX-Merchant-Id: M-SMUGGLE\r\n\r\n${SECOND}`,
  'obsolete line folding': `GET /api/v1/echo HTTP/1.1\r\nHost: gateway\r\nX-Merchant-Id: M-SMUGGLE\r\n X-Folded: yes\r\n\r\n${SECOND}`,
};

for (const [shape, bytes] of Object.entries(SHAPES)) {
  test(`refused before forwarding: ${shape}`, async () => {
    const before = forwarded();
    const answer = await rawRequest(stack.gw.url, bytes);
    assert.equal(answer.status, 400, `status for ${shape}: ${answer.raw.slice(0, 200)}`);
    assert.match(answer.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(typeof JSON.parse(answer.body).error, 'string');
    assert.ok(answer.closedByServer, 'the connection is closed after a framing error');
    assert.equal(forwarded(), before, 'nothing reached a backend');
  });
}

test('after every refused shape the gateway still serves a normal request', async () => {
  const res = await fetch(`${stack.gw.url}/api/v1/echo`, { headers: { 'x-merchant-id': 'M-SMUGGLE' } });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).method, 'GET');
});

test('a plain chunked body is still accepted and re-framed with a Content-Length', async () => {
  const answer = await rawRequest(stack.gw.url, `POST /api/v1/echo HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n`);
  assert.equal(answer.status, 200, answer.raw.slice(0, 300));
  const echoed = JSON.parse(answer.body);
  assert.equal(echoed.body, '{}');
  assert.equal(echoed.headers['content-length'], '2');
  assert.equal(echoed.headers['transfer-encoding'], undefined);
});
