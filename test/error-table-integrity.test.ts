/**
 * The one table of coded errors: every entry is usable as an HTTP answer,
 * a GatewayError carries what the table and its thrower give it, every code
 * the gateway sends on either port is in the table, and every code in the
 * table is sent by some request.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { ERRORS, GatewayError, errorBody, type ErrorCode } from '../gateway/errors.ts';
import { pinKey } from '../gateway/pins.ts';
import { rawRequest } from './helpers/raw-http.ts';
import { ADMIN_TOKEN, DEFAULT_RULES, READONLY_TOKEN, orderId, startBackends, startGateway, testConfig, v1Create, v2Create, type Backends, type RunningGateway } from './helpers/stack.ts';

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
  const own: Partial<Record<ErrorCode, number>> = { encoded_path: 400, path_parameter: 400, invalid_host: 400, unsupported_content_encoding: 415, duplicate_header: 400 };
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

// ---- The table against the wire: a request that produces each code, on either port. ----

/** Codes whose set-up needs a test of its own (a slow, busy or cut backend; a stopped Redis); each file sends and asserts the code. */
const SENT_ELSEWHERE: Partial<Record<ErrorCode, string>> = {
  request_timeout: 'hardening-size-and-slow-senders.test.ts',
  backend_timeout: 'upstream-timeout-and-refused-connection.test.ts',
  backend_busy: 'full-pool-is-503-backend-busy-not-a-breaker-fault.test.ts',
  backend_error: 'get-retried-once-on-same-backend.test.ts',
  idempotency_key_reused: 'decide-refuses-a-reused-key-and-unknown-pins.test.ts',
  transaction_moving: 'frozen-transaction-answers-503-transaction-moving.test.ts',
};
/** Codes never written: the merchant hung up, so there is no one to answer (recorded as 499 in logs and metrics). */
const NEVER_SENT: ErrorCode[] = ['client_closed_request'];

let backends: Backends;
const stack = {} as { gw: RunningGateway };
before(async () => {
  backends = await startBackends();
  const raw = testConfig(backends.urls, { limits: { bodyBytes: 1024, headerBytes: 2048 } });
  // Nothing listens on port 1 of loopback.
  const dead = { url: 'http://127.0.0.1:1', apiVersions: ['v1', 'v2'], timeoutMs: 2000 };
  stack.gw = await startGateway({ ...raw, backends: { ...(raw.backends as object), dead } });
});
after(async () => { await stack.gw?.close(); await backends?.close(); });

/** Every error answer seen in this file: the code, the status, and whether it carried a requestId. */
const seen: { code: string; status: number; requestId: unknown }[] = [];

async function data(method: string, path: string, opts: { merchant?: string | string[]; body?: string; headers?: Record<string, string> } = {}) {
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const u = new URL(stack.gw.url);
    // A raw header list: Node adds no Host of its own, and HTTP/1.1 needs one.
    const headers: [string, string][] = [['host', u.host], ...Object.entries(opts.headers ?? {})];
    for (const m of [opts.merchant ?? 'M-ERR'].flat()) headers.push(['x-merchant-id', m]);
    if (opts.body !== undefined) headers.push(['content-length', String(Buffer.byteLength(opts.body))]);
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers: headers.flat() }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; }).on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
  return note(status, body);
}

function note(status: number, text: string): { status: number; error: string } {
  const body = JSON.parse(text) as { error: string; requestId?: unknown };
  if (status >= 400) seen.push({ code: body.error, status, requestId: body.requestId });
  return { status, error: body.error };
}

async function adminCallOf(method: string, path: string, body?: string, opts: { token?: string | null; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${stack.gw.adminUrl}${path}`, {
    method, body,
    headers: {
      ...(opts.token === null ? {} : { authorization: `Bearer ${opts.token ?? ADMIN_TOKEN}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...opts.headers,
    },
  });
  return note(res.status, await res.text());
}

const json = { 'content-type': 'application/json' };

/** Failure injection: `target[name]` throws `err` while `run` runs. */
async function failing(target: object, name: string, err: Error, run: () => Promise<void>): Promise<void> {
  const t = target as Record<string, unknown>;
  const had = Object.hasOwn(t, name);
  const own = t[name];
  t[name] = () => { throw err; };
  try {
    await run();
  } finally {
    if (had) t[name] = own; else delete t[name];
  }
}

test('the data port answers each refusal with its code', async () => {
  const cases: [ErrorCode, () => Promise<{ error: string }>][] = [
    ['unknown_api_version', () => data('GET', '/api/v9/payments/pay_1')],
    ['not_found', () => data('GET', '/elsewhere')],
    ['missing_merchant', () => data('GET', '/api/v1/payments/pay_1', { merchant: [] })],
    ['invalid_header', () => data('GET', '/api/v1/payments/pay_1', { merchant: 'not a merchant!' })],
    ['duplicate_header', () => data('GET', '/api/v1/payments/pay_1', { merchant: ['M-A', 'M-B'] })],
    ['missing_idempotency_key', () => data('POST', '/api/v2/payments', { body: JSON.stringify(v2Create(orderId())), headers: json })],
    ['invalid_json', () => data('POST', '/api/v1/payments', { body: '{"out_trade_no":', headers: json })],
    ['invalid_request', () => data('POST', '/api/v1/payments', { body: '{}', headers: json })],
    ['bad_request', () => data('GET', '/api/v1/payments/pay_1', { body: '{}', headers: json })],
    ['payload_too_large', () => data('POST', '/api/v1/payments', { body: JSON.stringify({ ...v1Create(orderId()), subject: 'x'.repeat(2000) }), headers: json })],
    ['unsupported_media_type', () => data('POST', '/api/v1/payments', { body: JSON.stringify(v1Create(orderId())), headers: { 'content-type': 'text/plain' } })],
    ['method_not_allowed', () => data('DELETE', '/api/v1/payments')],
    ['unknown_endpoint', () => data('GET', '/api/v1/payments/pay_1/')],
    ['encoded_path', () => data('GET', '/api/v1/payments/%70ay_1')],
    ['path_parameter', () => data('GET', '/api/v1/payments/pay_1;x=1')],
    ['unsupported_content_encoding', () => data('POST', '/api/v1/payments', { body: JSON.stringify(v1Create(orderId())), headers: { ...json, 'content-encoding': 'gzip' } })],
  ];
  for (const [code, send] of cases) assert.equal((await send()).error, code);
});

test('the data port answers each routing refusal with its code', async () => {
  // A reused Idempotency-Key with another body.
  const key = { ...json, 'idempotency-key': `K-${orderId()}` };
  const order = orderId();
  assert.equal((await data('POST', '/api/v2/payments', { body: JSON.stringify(v2Create(order, 100)), headers: key })).status, 201);
  assert.equal((await data('POST', '/api/v2/payments', { body: JSON.stringify(v2Create(order, 200)), headers: key })).error, 'idempotency_key_mismatch');
  // A v1 payment (legacy speaks only v1) followed up through v2.
  const v1 = await fetch(`${stack.gw.url}/api/v1/payments`, { method: 'POST', headers: { ...json, 'x-merchant-id': 'M-ERR' }, body: JSON.stringify(v1Create(orderId())) });
  const { trade_no: tradeNo } = await v1.json() as { trade_no: string };
  assert.equal((await data('GET', `/api/v2/payments/${tradeNo}`)).error, 'version_mismatch');
  // A pin naming a backend no longer configured.
  await stack.gw.store.pinIfAbsent(pinKey.transaction('pay_retired'), 'retired', Date.now());
  assert.equal((await data('GET', '/api/v2/payments/pay_retired')).error, 'backend_unavailable');
  // A merchant flagged to a backend nobody listens for.
  assert.equal((await adminCallOf('PUT', '/admin/merchants/M-DEAD', JSON.stringify({ backend: 'dead' }))).status, 200);
  assert.equal((await data('POST', '/api/v1/payments', { merchant: 'M-DEAD', body: JSON.stringify(v1Create(orderId())), headers: json })).error, 'backend_unreachable');
});

test('injected failures: a pin store that cannot answer, an unexpected throw', async () => {
  // An id no unpinned pattern names: without the store there is no telling where it lives.
  await failing(stack.gw.store, 'getPin', new Error('injected: store down'), async () => {
    assert.equal((await data('GET', '/api/v1/payments/ord_1')).error, 'pin_store_unavailable');
  });
  await failing(stack.gw.gw.backends.get('next')!, 'send', new TypeError('injected: a bug'), async () => {
    assert.equal((await data('GET', '/api/v2/payments/pay_1')).error, 'internal_error');
  });
});

test('framing the parser or the server refuses is answered from the table, with a requestId', async () => {
  const te = await rawRequest(stack.gw.url, 'POST /api/v1/payments HTTP/1.1\r\nHost: g\r\nX-Merchant-Id: M-ERR\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
  assert.equal(note(te.status!, te.body).error, 'bad_request');
  const big = await rawRequest(stack.gw.url, `GET /api/v1/payments/pay_1 HTTP/1.1\r\nHost: g\r\nX-Merchant-Id: M-ERR\r\nX-Padding: ${'p'.repeat(3000)}\r\n\r\n`);
  assert.equal(note(big.status!, big.body).error, 'header_too_large');
  assert.equal(big.headers['x-request-id'], JSON.parse(big.body).requestId);
  const hostless = await rawRequest(stack.gw.url, 'GET /api/v1/payments/pay_1 HTTP/1.1\r\nX-Merchant-Id: M-ERR\r\n\r\n');
  assert.equal(note(hostless.status!, hostless.body).error, 'invalid_host');
});

test('the admin port answers each refusal with its code', async () => {
  const rules = JSON.stringify(DEFAULT_RULES);
  const cases: [ErrorCode, () => Promise<{ error: string }>][] = [
    ['unauthorized', () => adminCallOf('GET', '/admin/rules', undefined, { token: null })],
    ['forbidden', () => adminCallOf('PUT', '/admin/merchants/M-RO', JSON.stringify({ backend: 'next' }), { token: READONLY_TOKEN })],
    ['not_found', () => adminCallOf('GET', '/admin/nothing-here')],
    ['invalid_json', () => adminCallOf('PUT', '/admin/merchants/M-J', '{"backend":')],
    ['payload_too_large', () => adminCallOf('PUT', '/admin/merchants/M-J', JSON.stringify({ backend: 'next', comment: 'x'.repeat(1_100_000) }))],
    ['invalid_request', () => adminCallOf('PUT', '/admin/merchants/M-J', JSON.stringify({ backend: 'nowhere' }))],
    ['invalid_header', () => adminCallOf('PUT', '/admin/rules', rules, { headers: { 'if-match': 'whatever' } })],
    ['invalid_ruleset', () => adminCallOf('PUT', '/admin/rules', JSON.stringify({ rules: 'none' }), { headers: { 'if-match': '"1"' } })],
    ['version_conflict', () => adminCallOf('PUT', '/admin/rules', rules, { headers: { 'if-match': '"999"' } })],
    ['invalid_canary', () => adminCallOf('PUT', '/admin/canary', '{}')],
    ['canary_conflict', () => adminCallOf('POST', '/admin/canary/pause', '{}')],
    ['invalid_handover', () => adminCallOf('POST', '/admin/handover', JSON.stringify({ from: 'legacy', to: 'next' }))],
    ['handover_not_found', () => adminCallOf('GET', '/admin/handover/no-such-job')],
  ];
  for (const [code, send] of cases) assert.equal((await send()).error, code);
  // A job still receiving its rows cannot be reversed.
  const admin = (path: string, body: unknown) => fetch(`${stack.gw.adminUrl}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...json } });
  const open = await admin('/admin/handover', { from: 'legacy', to: 'next', transactions: [], more: true });
  assert.equal(open.status, 202);
  const { job } = await open.json() as { job: string };
  assert.equal((await adminCallOf('POST', `/admin/handover/${job}/reverse`, '{}')).error, 'handover_conflict');
  assert.equal((await admin(`/admin/handover/${job}/abort`, {})).status, 200);
  await failing(stack.gw.store, 'listAudit', new Error('injected: store down'), async () => {
    assert.equal((await adminCallOf('GET', '/admin/audit')).error, 'store_unavailable');
  });
});

test('every code on the wire is in the table with its status and a requestId; every code in the table is sent', async () => {
  assert.ok(seen.length > 30, `${seen.length} answers seen`);
  for (const s of seen) {
    assert.ok(s.code in ERRORS, `${s.code} is not in the table`);
    assert.equal(s.status, ERRORS[s.code as ErrorCode].status, s.code);
    assert.equal(typeof s.requestId, 'string', `${s.code} without a requestId`);
  }
  const sentHere = new Set(seen.map((s) => s.code));
  for (const [code, file] of Object.entries(SENT_ELSEWHERE)) {
    assert.ok(!sentHere.has(code), `${code} is sent here: drop it from SENT_ELSEWHERE`);
    assert.match(readFileSync(new URL(file, import.meta.url), 'utf8'), new RegExp(`'${code}'`), `${file} asserts ${code}`);
  }
  const unaccounted = codes.filter((c) => !sentHere.has(c) && !(c in SENT_ELSEWHERE) && !NEVER_SENT.includes(c));
  assert.deepEqual(unaccounted, [], 'table codes no request produces: send one, or delete the code');
});
