import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useRecordingStack } from './helpers/recording-backend.ts';
import { rawRequest } from './helpers/raw-http.ts';

// A framing error gets exactly one answer, then the connection closes: a second answer on
// the same connection would be read as the answer to whatever the client sends next. When the
// error is behind a complete request, that request keeps its real answer (Connection: close).

const stack = useRecordingStack();

const HEAD = 'Host: gateway\r\nX-Merchant-Id: M-FRAME\r\nContent-Type: application/json\r\n';
const answers = (raw: string) => (raw.match(/HTTP\/1\.1 \d{3} /g) ?? []).length;

const SHAPES: Record<string, string | string[]> = {
  'Transfer-Encoding: gzip': `POST /api/v1/echo HTTP/1.1\r\n${HEAD}Transfer-Encoding: gzip\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
  'Transfer-Encoding: identity': `POST /api/v1/echo HTTP/1.1\r\n${HEAD}Transfer-Encoding: identity\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
  'Transfer-Encoding: deflate on a create': `POST /api/v1/payments HTTP/1.1\r\n${HEAD}Transfer-Encoding: deflate\r\n\r\n{}`,
  'Transfer-Encoding: chunked, gzip': `POST /api/v1/echo HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked, gzip\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
  'a bad chunk size after a good head': [`POST /api/v1/payments HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked\r\n\r\n`, 'zz\r\n{}\r\n0\r\n\r\n'],
  'a chunk overrunning its size': [`POST /api/v1/echo HTTP/1.1\r\n${HEAD}Transfer-Encoding: chunked\r\n\r\n`, '2\r\n{}XX0\r\n\r\n'],
};

for (const [shape, parts] of Object.entries(SHAPES)) {
  test(`${shape}: one 400 answer, then the connection closes; nothing forwarded`, async () => {
    const before = stack.rec.received.length;
    const answer = await rawRequest(stack.gw.url, parts, { pauseMs: 30 });
    assert.equal(answer.status, 400, answer.raw.slice(0, 300));
    assert.equal(answers(answer.raw), 1, `answers on one connection: ${JSON.stringify(answer.raw)}`);
    assert.equal(JSON.parse(answer.body).error, 'bad_request');
    assert.ok(answer.closedByServer);
    assert.equal(stack.rec.received.length, before);
  });
}

test('a stray byte behind a complete refund: the refund gets its real answer with Connection: close, and nothing else', async () => {
  const before = stack.rec.received.length;
  const refund = '{"refund_amount":"1.00","out_request_no":"R-1"}';
  assert.equal(Buffer.byteLength(refund), 47);
  const answer = await rawRequest(stack.gw.url, `POST /api/v1/payments/2026120100000001/refund HTTP/1.1\r\n${HEAD}Content-Length: 47\r\n\r\n${refund}}`, { timeoutMs: 3000 });
  assert.equal(answer.status, 200, answer.raw.slice(0, 300));
  assert.equal(answers(answer.raw), 1, `answers on one connection: ${JSON.stringify(answer.raw)}`);
  assert.equal(answer.headers.connection, 'close');
  assert.ok(answer.closedByServer, 'the connection closes after the answer');
  assert.equal(JSON.parse(answer.body).trade_no.length, 16, 'the backend\'s answer, not a gateway refusal');
  const got = stack.rec.received.slice(before);
  assert.equal(got.length, 1);
  assert.equal(got[0].url, '/api/v1/payments/2026120100000001/refund');
  assert.deepEqual(JSON.parse(got[0].body.toString()), JSON.parse(refund));
});

test('a stray byte behind a streamed unmodelled request: one whole answer, then the connection closes', async () => {
  const before = stack.rec.received.length;
  const answer = await rawRequest(stack.gw.url, `GET /api/v1/echo HTTP/1.1\r\n${HEAD}\r\n\x01`, { timeoutMs: 3000 });
  assert.equal(answer.status, 200, answer.raw.slice(0, 300));
  assert.equal(answers(answer.raw), 1, `answers on one connection: ${JSON.stringify(answer.raw)}`);
  assert.ok(answer.closedByServer);
  assert.equal(stack.rec.received.length - before, 1);
});
