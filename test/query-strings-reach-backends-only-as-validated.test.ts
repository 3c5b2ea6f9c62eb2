import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useRecordingStack } from './helpers/recording-backend.ts';
import { rawRequest } from './helpers/raw-http.ts';

// Backends read the query too (Alipay-style `trade_no`/`total_amount`, PHP folding
// `out.trade.no` into `out_trade_no`, `qs` arrays `x[]`). Create, get, refund and close take
// none; the query-by-order endpoint takes only its order field, and the backend receives the
// query rebuilt from the validated value.

const stack = useRecordingStack();

function send(method: string, target: string, body = '') {
  return rawRequest(stack.gw.url, `${method} ${target} HTTP/1.1\r\nHost: gateway\r\nX-Merchant-Id: M-Q\r\nIdempotency-Key: k-q-${Math.random()}\r\n`
    + `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
async function refused(method: string, target: string, detailPath: string, body = '') {
  const before = stack.rec.received.length;
  const answer = await send(method, target, body);
  assert.equal(answer.status, 400, `${method} ${target}: ${answer.raw.slice(0, 300)}`);
  const parsed = JSON.parse(answer.body) as { error: string; details: { path: string }[] };
  assert.equal(parsed.error, 'invalid_request', target);
  assert.ok(parsed.details.some((d) => d.path === detailPath), `${target}: ${JSON.stringify(parsed.details)}`);
  assert.equal(stack.rec.received.length, before, `${method} ${target} reached the backend`);
}

const V1_CREATE = JSON.stringify({ out_trade_no: 'Q-1', total_amount: '1.00', currency: 'CNY', subject: 's' });
const V2_CREATE = JSON.stringify({ merchantOrderId: 'Q-2', amount: { value: 100, currency: 'CNY' }, description: 'd' });

test('create, get, refund and close with a query string are 400 invalid_request and forward nothing', async () => {
  await refused('POST', '/api/v1/payments?total_amount=99999.00', '/query', V1_CREATE);
  await refused('POST', '/api/v2/payments?capture=false', '/query', V2_CREATE);
  await refused('GET', '/api/v1/payments/2026120100000001?trade_no=2026120100000002', '/query');
  await refused('POST', '/api/v1/payments/2026120100000001/refund?refund_amount=99999.00', '/query', '{"refund_amount":"1.00"}');
  await refused('POST', '/api/v1/payments/2026120100000001/close?x', '/query');
  await refused('POST', '/api/v2/payments/pay_1/cancel?a=b', '/query');
});

test('a query by order with any other parameter is 400 invalid_request and forwards nothing', async () => {
  await refused('GET', '/api/v1/payments?out_trade_no=A&trade_no=2026120100000002', '/query/trade_no');
  await refused('GET', '/api/v1/payments?out.trade.no=B&out_trade_no=A', '/query/out.trade.no');
  await refused('GET', '/api/v1/payments?out_trade_no[]=B&out_trade_no=A', '/query/out_trade_no[]');
  await refused('GET', '/api/v2/payments?merchantOrderId=A&merchantOrderId[x]=B', '/query/merchantOrderId[x]');
});

test('the backend receives the query rebuilt from the validated order number only', async () => {
  for (const [target, forwarded] of [
    ['/api/v1/payments?out_trade_no=Q-ABC', '/api/v1/payments?out_trade_no=Q-ABC'],
    ['/api/v1/payments?out_trade_no=Q-A%42C&', '/api/v1/payments?out_trade_no=Q-ABC'],
    ['/api/v1/payments?out%5Ftrade%5Fno=Q-ABC', '/api/v1/payments?out_trade_no=Q-ABC'],
    ['/api/v2/payments?merchantOrderId=Q-XYZ', '/api/v2/payments?merchantOrderId=Q-XYZ'],
  ]) {
    const answer = await send('GET', target);
    assert.equal(answer.status, 200, `${target}: ${answer.raw.slice(0, 300)}`);
    assert.equal(stack.rec.received.at(-1)!.url, forwarded, target);
  }
});

test('a modelled path sent with an empty "?" reaches the backend as the bare path', async () => {
  const answer = await send('GET', '/api/v1/payments/2026120100000001?');
  assert.equal(answer.status, 200, answer.raw.slice(0, 300));
  assert.equal(stack.rec.received.at(-1)!.url, '/api/v1/payments/2026120100000001');
});
