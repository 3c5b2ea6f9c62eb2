/**
 * The one table of coded errors: every entry is usable as an HTTP answer,
 * and a GatewayError carries what the table and its thrower give it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERRORS, GatewayError, errorBody, type ErrorCode } from '../gateway/errors.ts';

const codes = Object.keys(ERRORS) as ErrorCode[];

test('every entry has a 4xx/5xx status, a message, and a snake_case code', () => {
  assert.ok(codes.length > 10);
  for (const code of codes) {
    const { status, message } = ERRORS[code];
    assert.match(code, /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/, `code ${code}`);
    assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: status ${status}`);
    assert.equal(typeof message, 'string');
    assert.ok(message.trim().length > 0, `${code}: empty message`);
  }
});

test('the codes the SPEC names have the statuses it gives them', () => {
  const spec: Partial<Record<ErrorCode, number>> = {
    unknown_api_version: 404, missing_merchant: 400, invalid_json: 400, invalid_request: 400,
    payload_too_large: 413, unsupported_media_type: 415, version_mismatch: 409, pin_store_unavailable: 503,
    backend_unavailable: 503, backend_timeout: 504, backend_unreachable: 502, unauthorized: 401, forbidden: 403,
    version_conflict: 409, unknown_endpoint: 404, method_not_allowed: 405,
  };
  for (const [code, status] of Object.entries(spec)) assert.equal(ERRORS[code as ErrorCode].status, status, code);
});

test('the one-reading refusals (issue 13) have their statuses', () => {
  const own: Partial<Record<ErrorCode, number>> = { encoded_path: 400, invalid_host: 400, unsupported_content_encoding: 415, duplicate_header: 400 };
  for (const [code, status] of Object.entries(own)) assert.equal(ERRORS[code as ErrorCode]?.status, status, code);
});

test('GatewayError carries code, status, cause, details and headers; the table message is the default', () => {
  const cause = new Error('ECONNREFUSED');
  const err = new GatewayError('backend_unavailable', { cause, headers: { 'retry-after': '10' } });
  assert.ok(err instanceof Error);
  assert.equal(err.code, 'backend_unavailable');
  assert.equal(err.status, 503);
  assert.equal(err.message, ERRORS.backend_unavailable.message);
  assert.equal(err.cause, cause);
  assert.deepEqual(err.headers, { 'retry-after': '10' });

  const own = new GatewayError('invalid_request', { message: 'amount is wrong', details: [{ path: '/amount', message: 'x' }] });
  assert.equal(own.message, 'amount is wrong');
  assert.equal(own.status, 400);
  assert.deepEqual(own.details, [{ path: '/amount', message: 'x' }]);
  assert.equal(own.cause, undefined);
});

test('an error body is {error, message, requestId(, details)} and never leaks the cause', () => {
  const err = new GatewayError('invalid_json', { cause: new Error('secret internals at /srv/x.ts:12') });
  assert.deepEqual(errorBody(err, 'req-1'), { error: 'invalid_json', message: ERRORS.invalid_json.message, requestId: 'req-1' });
  const detailed = new GatewayError('invalid_request', { details: [{ path: '/subject', message: 'is required' }] });
  assert.deepEqual(errorBody(detailed, 'req-2'), {
    error: 'invalid_request', message: ERRORS.invalid_request.message, requestId: 'req-2', details: [{ path: '/subject', message: 'is required' }],
  });
});
