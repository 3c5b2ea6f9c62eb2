/**
 * Validation (SPEC section 4, step 2): every refusal has its exact status and
 * code, a {error, message, requestId(, details)} JSON body, and nothing
 * invalid ever reaches a backend. The limits themselves are accepted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderId, useStack, v1Create, v2Create } from './helpers/stack.ts';

const BODY_LIMIT = 4096;
const stack = useStack(() => ({ overrides: { limits: { bodyBytes: BODY_LIMIT } } }));

const backendRequests = () => stack.backends.legacy.state.requests + stack.backends.next.state.requests;
const JSON_TYPE = { 'content-type': 'application/json' };
const MERCHANT = { 'x-merchant-id': 'M-VALID' };

interface Call { method: string; path: string; headers?: Record<string, string>; body?: string | Uint8Array | ReadableStream }

/** A header value meaning "send no such header" (overrides a default). */
const OMIT = '(omit)';
let seq = 0;
/** Sends a call; asserts the error body's shape; returns status, code and details. */
async function refusal(call: Call): Promise<{ status: number; error: string; details?: unknown; headers: Headers }> {
  const requestId = `val-${seq++}`;
  const headers: Record<string, string> = { 'x-request-id': requestId, ...call.headers };
  if (call.method === 'POST' && call.path.startsWith('/api/v2/') && !('idempotency-key' in headers)) headers['idempotency-key'] = orderId('k');
  for (const [name, value] of Object.entries(headers)) if (value === OMIT) delete headers[name];
  const res = await fetch(`${stack.gw.url}${call.path}`, {
    method: call.method, headers, body: call.body, ...(call.body instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = await res.json();
  const keys = Object.keys(body).sort();
  assert.deepEqual(keys, body.details === undefined ? ['error', 'message', 'requestId'] : ['details', 'error', 'message', 'requestId']);
  assert.equal(body.requestId, requestId);
  assert.equal(typeof body.message, 'string');
  assert.equal(res.headers.get('x-cutover-backend'), null, 'no routing decision was made');
  return { status: res.status, error: body.error, details: body.details, headers: res.headers };
}

const postJson = (path: string, body: unknown, headers: Record<string, string> = {}): Call =>
  ({ method: 'POST', path, headers: { ...JSON_TYPE, ...MERCHANT, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

/** Each case: a call and the one problem (path and message) it must be refused with. */
async function expectInvalid(cases: [string, Call, string, RegExp][]): Promise<void> {
  for (const [label, call, path, message] of cases) {
    const r = await refusal(call);
    assert.equal(r.status, 400, label);
    assert.equal(r.error, 'invalid_request', label);
    assert.ok(Array.isArray(r.details) && r.details.length === 1, `${label}: ${JSON.stringify(r.details)}`);
    const [problem] = r.details as { path: string; message: string }[];
    assert.equal(problem.path, path, label);
    assert.match(problem.message, message, label);
  }
}

test('bad JSON and bad UTF-8 are 400 invalid_json', async () => {
  const before = backendRequests();
  const utf8Broken = Buffer.concat([Buffer.from('{"out_trade_no":"U-1","total_amount":"1.00","currency":"CNY","subject":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]);
  for (const call of [
    postJson('/api/v1/payments', '{"out_trade_no": "J-1", '),
    postJson('/api/v1/payments', "{'out_trade_no': 'J-1'}"),
    postJson('/api/v1/payments', ''),
    { ...postJson('/api/v1/payments', ''), body: utf8Broken },
    postJson('/api/v2/payments', '{"amount": {"value": 1,}}'),
    postJson('/api/v1/payments/2026112500000123/refund', 'null x'),
  ]) {
    const r = await refusal(call);
    assert.deepEqual([r.status, r.error], [400, 'invalid_json'], String(call.body));
  }
  assert.equal(backendRequests(), before);
});

test('v1 bodies: missing and unknown fields, amounts, currency and order numbers are 400 invalid_request with details', async () => {
  const before = backendRequests();
  const v1 = (patch: Record<string, unknown>) => postJson('/api/v1/payments', { ...v1Create(orderId('V1')), ...patch });
  const { subject: _s, ...noSubject } = v1Create('V1-missing');
  const cases: [string, Call, string, RegExp][] = [
    ['missing field', postJson('/api/v1/payments', noSubject), '/subject', /is required/],
    ['unknown field', v1({ amount: '1.00' }), '/amount', /is not an allowed field/],
    ['not an object', postJson('/api/v1/payments', '[]'), '/', /must be object/],
    ['currency', v1({ currency: 'USD' }), '/currency', /must be one of CNY/],
    ['order number of 65 characters', v1({ out_trade_no: 'A'.repeat(65) }), '/out_trade_no', /pattern/],
    ['order number with a space', v1({ out_trade_no: 'A 1' }), '/out_trade_no', /pattern/],
    ['order number with a colon', v1({ out_trade_no: 'A:1' }), '/out_trade_no', /pattern/],
    ['empty order number', v1({ out_trade_no: '' }), '/out_trade_no', /pattern/],
    ['amount as a number', v1({ total_amount: 12.34 }), '/total_amount', /must be string/],
  ];
  for (const amount of ['0', '0.00', '0.0', '01.5', '1.234', '1.', '.5', '-1', '+1', '1e2', ' 1', '12345678901', '']) {
    cases.push([`amount "${amount}"`, v1({ total_amount: amount }), '/total_amount', /pattern/]);
  }
  cases.push(['refund amount "0"', postJson('/api/v1/payments/2026112500000123/refund', { out_request_no: 'R-1', refund_amount: '0' }), '/refund_amount', /pattern/]);
  cases.push(['refund without its number', postJson('/api/v1/payments/2026112500000123/refund', { refund_amount: '1.00' }), '/out_request_no', /is required/]);
  cases.push(['close with a body', postJson('/api/v1/payments/2026112500000123/close', { reason: 'x' }), '/reason', /is not an allowed field/]);
  await expectInvalid(cases);
  assert.equal(backendRequests(), before);
});

test('v2 bodies: value 0, 10^12 + 1, non-integers and other currencies are 400 invalid_request', async () => {
  const before = backendRequests();
  const v2 = (amount: unknown) => postJson('/api/v2/payments', { ...v2Create(orderId('V2')), amount });
  const cases: [string, Call, string, RegExp][] = [
    ['value 0', v2({ value: 0, currency: 'CNY' }), '/amount/value', /must be >= 1/],
    ['value 10^12 + 1', v2({ value: 1_000_000_000_001, currency: 'CNY' }), '/amount/value', /must be <= 1000000000000/],
    ['value 12.5', v2({ value: 12.5, currency: 'CNY' }), '/amount/value', /must be integer/],
    ['value as a string', v2({ value: '1234', currency: 'CNY' }), '/amount/value', /must be integer/],
    ['negative value', v2({ value: -5, currency: 'CNY' }), '/amount/value', /must be >= 1/],
    ['currency', v2({ value: 100, currency: 'cny' }), '/amount/currency', /must be one of CNY/],
    ['missing currency', v2({ value: 100 }), '/amount/currency', /is required/],
    ['unknown amount field', v2({ value: 100, currency: 'CNY', fx: 1 }), '/amount/fx', /is not an allowed field/],
    ['order number of 65 characters', postJson('/api/v2/payments', v2Create('B'.repeat(65))), '/merchantOrderId', /pattern/],
    ['snake_case field in v2', postJson('/api/v2/payments', { ...v2Create(orderId('V2')), out_trade_no: 'X' }), '/out_trade_no', /is not an allowed field/],
    ['refund of 0', postJson('/api/v2/payments/pay_abc/refunds', { amount: { value: 0, currency: 'CNY' } }), '/amount/value', /must be >= 1/],
    ['cancel with a body', postJson('/api/v2/payments/pay_abc/cancel', { now: true }), '/now', /is not an allowed field/],
  ];
  await expectInvalid(cases);
  assert.equal(backendRequests(), before);
});

test('a query without exactly one valid order number is 400 invalid_request', async () => {
  const before = backendRequests();
  await expectInvalid([
    ['no out_trade_no', { method: 'GET', path: '/api/v1/payments', headers: MERCHANT }, '/query/out_trade_no', /exactly one order number/],
    ['two out_trade_no', { method: 'GET', path: '/api/v1/payments?out_trade_no=A&out_trade_no=B', headers: MERCHANT }, '/query/out_trade_no', /exactly one/],
    ['bad characters', { method: 'GET', path: '/api/v1/payments?out_trade_no=A%20B', headers: MERCHANT }, '/query/out_trade_no', /exactly one/],
    ['v1 name on v2', { method: 'GET', path: '/api/v2/payments?out_trade_no=A', headers: MERCHANT }, '/query/out_trade_no', /not an allowed parameter/],
  ]);
  assert.equal(backendRequests(), before);
});

test('size, media type, merchant, idempotency key and method are refused with their own codes', async () => {
  const before = backendRequests();
  const big = JSON.stringify({ ...v1Create(orderId('BIG')), subject: 'x'.repeat(BODY_LIMIT) });
  const chunked = new ReadableStream({ start(c) { for (let i = 0; i < 3; i++) c.enqueue(new TextEncoder().encode(' '.repeat(2000))); c.close(); } });
  const valid = JSON.stringify(v1Create(orderId('MT')));
  const cases: [string, Call, number, string][] = [
    ['declared length over the limit', postJson('/api/v1/payments', big), 413, 'payload_too_large'],
    ['chunked body over the limit', { method: 'POST', path: '/api/v1/payments', headers: { ...JSON_TYPE, ...MERCHANT }, body: chunked }, 413, 'payload_too_large'],
    ['text/plain', { method: 'POST', path: '/api/v1/payments', headers: { ...MERCHANT, 'content-type': 'text/plain' }, body: valid }, 415, 'unsupported_media_type'],
    ['no content type', { method: 'POST', path: '/api/v1/payments', headers: MERCHANT, body: Buffer.from(valid) }, 415, 'unsupported_media_type'],
    ['latin-1 charset', { method: 'POST', path: '/api/v1/payments', headers: { ...MERCHANT, 'content-type': 'application/json; charset=iso-8859-1' }, body: valid }, 415, 'unsupported_media_type'],
    ['form body on a refund', { method: 'POST', path: '/api/v2/payments/pay_x/refunds', headers: { ...MERCHANT, 'content-type': 'application/x-www-form-urlencoded' }, body: 'amount=1' }, 415, 'unsupported_media_type'],
    ['no merchant on a create', { method: 'POST', path: '/api/v1/payments', headers: JSON_TYPE, body: valid }, 400, 'missing_merchant'],
    ['no merchant on a follow-up', { method: 'GET', path: '/api/v1/payments/2026112500000123' }, 400, 'missing_merchant'],
    ['no merchant on an unmodelled call', { method: 'GET', path: '/api/v2/echo' }, 400, 'missing_merchant'],
    ['v2 create without Idempotency-Key', postJson('/api/v2/payments', v2Create(orderId('IK')), { 'idempotency-key': OMIT }), 400, 'missing_idempotency_key'],
    ['v2 refund without Idempotency-Key', postJson('/api/v2/payments/pay_x/refunds', { amount: { value: 1, currency: 'CNY' } }, { 'idempotency-key': OMIT }), 400, 'missing_idempotency_key'],
    ['v2 unmodelled POST without Idempotency-Key', postJson('/api/v2/echo', {}, { 'idempotency-key': OMIT }), 400, 'missing_idempotency_key'],
    ['DELETE on payments', { method: 'DELETE', path: '/api/v1/payments', headers: MERCHANT }, 405, 'method_not_allowed'],
    ['GET on a refund', { method: 'GET', path: '/api/v1/payments/2026112500000123/refund', headers: MERCHANT }, 405, 'method_not_allowed'],
    ['PUT on a v2 payment', { method: 'PUT', path: '/api/v2/payments/pay_x', headers: { ...MERCHANT, ...JSON_TYPE }, body: '{}' }, 405, 'method_not_allowed'],
  ];
  for (const [label, call, status, code] of cases) {
    const r = await refusal(call);
    assert.deepEqual([r.status, r.error], [status, code], label);
    if (status === 405) assert.ok(r.headers.get('allow'), `${label}: a 405 names the allowed methods`);
  }
  assert.equal(backendRequests(), before);
});

test('a 405 lists every method the resource allows', async () => {
  const r = await refusal({ method: 'DELETE', path: '/api/v1/payments', headers: MERCHANT });
  assert.equal(r.status, 405);
  assert.deepEqual(r.headers.get('allow')?.split(/,\s*/).sort(), ['GET', 'POST']);
});

test('values at the limits are accepted and forwarded once each', async () => {
  const accepted: [string, string, unknown, number][] = [
    ['smallest v1 amount', '/api/v1/payments', v1Create(orderId('L'), '0.01'), 200],
    ['largest v1 amount', '/api/v1/payments', v1Create(orderId('L'), '9999999999.99'), 200],
    ['v1 amount 0.1', '/api/v1/payments', v1Create(orderId('L'), '0.1'), 200],
    ['64-character order number', '/api/v1/payments', v1Create(orderId('L').padEnd(64, 'x')), 200],
    ['smallest v2 value', '/api/v2/payments', v2Create(orderId('L'), 1), 201],
    ['largest v2 value', '/api/v2/payments', v2Create(orderId('L'), 1_000_000_000_000), 201],
  ];
  for (const [label, path, body, status] of accepted) {
    const before = backendRequests();
    const headers: Record<string, string> = { ...JSON_TYPE, ...MERCHANT, ...(path.startsWith('/api/v2/') ? { 'idempotency-key': orderId('k') } : {}) };
    const res = await fetch(`${stack.gw.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    assert.equal(res.status, status, `${label}: ${await res.clone().text()}`);
    await res.arrayBuffer();
    assert.equal(backendRequests(), before + 1, label);
  }
  const atLimit = JSON.stringify(v1Create(orderId('EXACT')));
  const padded = atLimit.slice(0, -1) + ' '.repeat(BODY_LIMIT - Buffer.byteLength(atLimit)) + '}';
  assert.equal(Buffer.byteLength(padded), BODY_LIMIT);
  const res = await fetch(`${stack.gw.url}/api/v1/payments`, { method: 'POST', headers: { ...JSON_TYPE, ...MERCHANT, 'content-type': 'application/json; charset=utf-8' }, body: padded });
  assert.equal(res.status, 200, 'a body of exactly the limit is accepted');
  await res.arrayBuffer();
});
