import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderId } from './helpers/stack.ts';
import { useRecordingStack } from './helpers/recording-backend.ts';
import { rawRequest } from './helpers/raw-http.ts';

// SPEC 10 / issue 13: the body a backend receives is the body that was validated: strict
// JSON (no BOM, no duplicate keys, numbers as written, integers in integer spelling), one
// Content-Type, no Content-Encoding. A recording backend shows exactly what arrived.

const stack = useRecordingStack();

function post(path: string, body: string | Buffer, headers = 'Content-Type: application/json\r\n') {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const head = `POST ${path} HTTP/1.1\r\nHost: gateway\r\nX-Merchant-Id: M-BODY\r\nIdempotency-Key: ${orderId('K')}\r\n${headers}`
    + `Content-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`;
  return rawRequest(stack.gw.url, [Buffer.concat([Buffer.from(head), bytes])]);
}
async function refused(path: string, body: string | Buffer, status: number, code: string, headers?: string) {
  const before = stack.rec.received.length;
  const answer = await post(path, body, headers);
  assert.equal(answer.status, status, `${body}: ${answer.raw.slice(0, 300)}`);
  assert.equal(JSON.parse(answer.body).error, code, String(body));
  assert.equal(stack.rec.received.length, before, `${body} reached the backend`);
}
const v2 = (value: string, order = orderId()) => `{"merchantOrderId":"${order}","amount":{"value":${value},"currency":"CNY"},"description":"d"}`;

test('v2 amount.value only in integer spelling within 1..10^12: float spellings that round to an integer are 400', async () => {
  for (const value of ['1e3', '100.0', '0.99999999999999999', '1000000000000.0000001', '1E0', '-0', '1000000000001', '99999999999999999999999']) {
    await refused('/api/v2/payments', v2(value), 400, 'invalid_request');
  }
});

test('duplicate keys with different values, a BOM, and unreadable JSON are 400 invalid_json', async () => {
  const order = orderId();
  await refused('/api/v1/payments', `{"out_trade_no":"${order}","total_amount":"1.00","total_amount":"99999.00","currency":"CNY","subject":"s"}`, 400, 'invalid_json');
  await refused('/api/v1/payments', `{"out_trade_no":"${order}","out_trade_no":"${order}-2","total_amount":"1.00","currency":"CNY","subject":"s"}`, 400, 'invalid_json');
  await refused('/api/v2/payments', `{"merchantOrderId":"${order}","amount":{"value":1,"currency":"CNY","value":2},"description":"d"}`, 400, 'invalid_json');
  const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(v2('100'))]);
  await refused('/api/v2/payments', withBom, 400, 'invalid_json');
});

test('Content-Encoding on a modelled endpoint is 415; a second Content-Type is 400', async () => {
  await refused('/api/v2/payments', v2('100'), 415, 'unsupported_content_encoding', 'Content-Type: application/json\r\nContent-Encoding: gzip\r\n');
  await refused('/api/v2/payments', v2('100'), 415, 'unsupported_content_encoding', 'Content-Type: application/json\r\nContent-Encoding: identity\r\n');
  await refused('/api/v2/payments', v2('100'), 400, 'duplicate_header', 'Content-Type: application/json\r\nContent-Type: text/plain\r\n');
  await refused('/api/v2/payments', v2('100'), 400, 'duplicate_header', 'Content-Type: text/plain\r\nContent-Type: application/json\r\n');
});

test('the backend receives the validated value, written once: no escapes, duplicates or whitespace it could read otherwise', async () => {
  const order = orderId();
  // Equal in meaning by the gateway's reading, but spelled with escapes, an identical
  // duplicate key, odd whitespace and a lone-surrogate escape in free text.
  const sent = `{ "merchantOrderId" : "${order}", "amount":{"value":\t1234 ,"currency":"\\u0043NY"},`
    + `"description":"caf\\u00e9 \\ud800","amount":{"value":1234,"currency":"CNY"} }`;
  const before = stack.rec.received.length;
  const answer = await post('/api/v2/payments', sent);
  assert.equal(answer.status, 200, answer.raw.slice(0, 300));
  assert.equal(stack.rec.received.length, before + 1);
  const got = stack.rec.received.at(-1)!;
  const expected = JSON.stringify({ merchantOrderId: order, amount: { value: 1234, currency: 'CNY' }, description: 'café \ud800' });
  assert.equal(got.body.toString('utf8'), expected);
  assert.equal(got.headers['content-length'], String(Buffer.byteLength(expected)));
  assert.equal(got.rawHeaders.filter((h) => h.toLowerCase() === 'content-type').length, 1);
});

test('the largest and smallest valid values reach the backend exactly as written', async () => {
  for (const value of ['1', '1000000000000']) {
    const order = orderId();
    const answer = await post('/api/v2/payments', v2(value, order));
    assert.equal(answer.status, 200, answer.raw.slice(0, 300));
    assert.equal(stack.rec.received.at(-1)!.body.toString(), v2(value, order));
  }
});

test('an empty close stays empty; unmodelled bodies are forwarded as sent', async () => {
  const answer = await rawRequest(stack.gw.url, 'POST /api/v1/payments/2026120100000009/close HTTP/1.1\r\nHost: gateway\r\nX-Merchant-Id: M-BODY\r\nConnection: close\r\n\r\n');
  assert.equal(answer.status, 200, answer.raw.slice(0, 300));
  assert.equal(stack.rec.received.at(-1)!.body.length, 0);
  const raw = '{ "any" : 1e3 }';
  assert.equal((await post('/api/v1/reports', raw)).status, 200);
  assert.equal(stack.rec.received.at(-1)!.body.toString(), raw);
});
