// The reference clearing backends (backends/): the merchant API of SPEC §3 as legacy and next
// answer it, the switches tests and benchmarks use, and the runnable main.ts. Real servers on
// 127.0.0.1 port 0, closed in teardown.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { createReferenceBackend, type ReferenceBackend, type ReferenceBackendOptions } from '../backends/reference.ts';

const running: ReferenceBackend[] = [];
after(async () => {
  await Promise.all(running.map(({ server }) => new Promise((resolve) => server.close(resolve))));
});

async function start(opts: ReferenceBackendOptions): Promise<{ backend: ReferenceBackend; base: string }> {
  const backend = createReferenceBackend(opts);
  running.push(backend);
  backend.server.listen(0, '127.0.0.1');
  await once(backend.server, 'listening');
  return { backend, base: `http://127.0.0.1:${(backend.server.address() as AddressInfo).port}` };
}

interface CallOptions {
  merchant?: string | null;
  body?: unknown;
  headers?: Record<string, string>;
}

async function call(base: string, method: string, path: string, opts: CallOptions = {}) {
  const headers: Record<string, string> = { ...opts.headers };
  const merchant = opts.merchant === undefined ? 'm1' : opts.merchant;
  if (merchant !== null) headers['x-merchant-id'] = merchant;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method,
    headers,
    body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
  });
  assert.equal(res.headers.get('content-type'), 'application/json');
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, any> };
}

let order = 0;
const v1Create = (base: string, amount = '10.00', merchant = 'm1', orderNo = `o-${++order}`) =>
  call(base, 'POST', '/api/v1/payments', { merchant, body: { out_trade_no: orderNo, total_amount: amount, currency: 'CNY', subject: 'tea' } });
const v2Create = (base: string, value = 1000, key = `k-${++order}`, orderNo = `o-${++order}`) =>
  call(base, 'POST', '/api/v2/payments', { headers: { 'idempotency-key': key }, body: { merchantOrderId: orderNo, amount: { value, currency: 'CNY' }, description: 'tea' } });
const v2Post = (base: string, path: string, body?: unknown, key = `k-${++order}`) =>
  call(base, 'POST', path, { headers: { 'idempotency-key': key }, body });

let legacy: string;
let next: string;
before(async () => {
  legacy = (await start({ kind: 'legacy' })).base;
  next = (await start({ kind: 'next' })).base;
});

describe('transaction ids tell the systems apart', () => {
  test('legacy issues 16 digits: a business date then an 8-digit counter', async () => {
    const a = (await v1Create(legacy)).json.trade_no;
    const b = (await v1Create(legacy)).json.trade_no;
    assert.match(a, /^\d{16}$/);
    assert.notEqual(a, b);
    const date = Date.UTC(Number(a.slice(0, 4)), Number(a.slice(4, 6)) - 1, Number(a.slice(6, 8)));
    assert.ok(Math.abs(date - Date.now()) < 2 * 86_400_000, `date part of ${a} is today`);
  });

  test('next issues pay_ ids through v1 and v2, and re_ refund ids', async () => {
    const viaV1 = (await v1Create(next)).json.trade_no;
    const created = await v2Create(next);
    assert.match(viaV1, /^pay_[0-9a-z]{24}$/);
    assert.match(created.json.id, /^pay_[0-9a-z]{24}$/);
    const refund = await v2Post(next, `/api/v2/payments/${created.json.id}/refunds`, { amount: { value: 1, currency: 'CNY' } });
    assert.match(refund.json.id, /^re_[0-9a-z]{24}$/);
  });
});

describe('each backend speaks its versions', () => {
  test('a v2 call to legacy answers 404 unknown_api_version', async () => {
    const res = await v2Create(legacy);
    assert.equal(res.status, 404);
    assert.deepEqual(res.json, { error: 'unknown_api_version' });
  });

  test('every answer is JSON naming the backend and echoing X-Request-Id', async () => {
    const res = await call(next, 'GET', '/api/v1/payments/nope', { headers: { 'x-request-id': 'req-42' } });
    assert.equal(res.headers.get('x-backend'), 'next');
    assert.equal(res.headers.get('x-request-id'), 'req-42');
  });

  test('a payment call without X-Merchant-Id answers 400', async () => {
    const res = await call(legacy, 'GET', '/api/v1/payments/1', { merchant: null });
    assert.equal(res.status, 400);
    assert.equal(res.json.error, 'missing_merchant_id');
  });

  test('bad JSON answers 400', async () => {
    const res = await call(legacy, 'POST', '/api/v1/payments', { body: '{"out_trade_no":' });
    assert.equal(res.status, 400);
    assert.equal(res.json.error, 'invalid_json');
  });
});

describe('v1 payment lifecycle', () => {
  for (const kind of ['legacy', 'next'] as const) {
    test(`create, query by id and by order, refund, close on ${kind}`, async () => {
      const base = kind === 'legacy' ? legacy : next;
      const created = await v1Create(base, '12.34', 'm1', `v1-life-${kind}`);
      assert.equal(created.status, 200);
      assert.deepEqual(created.json, { trade_no: created.json.trade_no, out_trade_no: `v1-life-${kind}`, total_amount: '12.34', status: 'WAIT_BUYER_PAY' });
      const tradeNo = created.json.trade_no;
      const byId = await call(base, 'GET', `/api/v1/payments/${tradeNo}`);
      assert.equal(byId.json.status, 'TRADE_SUCCESS');
      const byOrder = await call(base, 'GET', `/api/v1/payments?out_trade_no=v1-life-${kind}`);
      assert.equal(byOrder.json.trade_no, tradeNo);
      assert.equal((await v1Create(base, '12.34', 'm1', `v1-life-${kind}`)).json.trade_no, tradeNo, 'a repeated create is idempotent');

      const refund = await call(base, 'POST', `/api/v1/payments/${tradeNo}/refund`, { body: { out_request_no: 'r1', refund_amount: '2.34' } });
      assert.deepEqual(refund.json, { trade_no: tradeNo, out_request_no: 'r1', refund_amount: '2.34', status: 'REFUND_SUCCESS' });
      const closed = await call(base, 'POST', `/api/v1/payments/${tradeNo}/close`);
      assert.deepEqual(closed.json, { trade_no: tradeNo, status: 'TRADE_CLOSED' });
      const late = await call(base, 'POST', `/api/v1/payments/${tradeNo}/refund`, { body: { out_request_no: 'r2', refund_amount: '1.00' } });
      assert.equal(late.status, 409);
    });
  }
});

describe('v2 payment lifecycle on next', () => {
  test('create 201 pending, query by id and order, refund 201, cancel, no refund after cancel', async () => {
    const created = await v2Create(next, 5000, 'life-key', 'v2-life');
    assert.equal(created.status, 201);
    assert.equal(created.json.status, 'pending');
    const id = created.json.id;
    assert.equal((await call(next, 'GET', `/api/v2/payments/${id}`)).json.status, 'succeeded');
    assert.equal((await call(next, 'GET', '/api/v2/payments?merchantOrderId=v2-life')).json.id, id);
    const refund = await v2Post(next, `/api/v2/payments/${id}/refunds`, { amount: { value: 1500, currency: 'CNY' } });
    assert.equal(refund.status, 201);
    assert.deepEqual(refund.json, { id: refund.json.id, paymentId: id, amount: { value: 1500, currency: 'CNY' }, status: 'succeeded' });
    const canceled = await v2Post(next, `/api/v2/payments/${id}/cancel`);
    assert.deepEqual([canceled.status, canceled.json], [200, { id, status: 'canceled' }]);
    const late = await v2Post(next, `/api/v2/payments/${id}/refunds`, { amount: { value: 1, currency: 'CNY' } });
    assert.equal(late.status, 409);
  });

  test('the same Idempotency-Key replays the first answer; another key for the order is a conflict', async () => {
    const first = await v2Create(next, 700, 'replay-key', 'v2-replay');
    const again = await v2Create(next, 700, 'replay-key', 'v2-replay');
    assert.deepEqual([again.status, again.json], [201, first.json]);
    const other = await v2Create(next, 700, 'another-key', 'v2-replay');
    assert.deepEqual([other.status, other.json], [409, { error: 'duplicate_order' }]);
  });
});

describe('a backend answers 404 for what it does not hold', () => {
  test('a legacy payment is unknown to next, in every call', async () => {
    const tradeNo = (await v1Create(legacy)).json.trade_no;
    for (const res of [
      await call(next, 'GET', `/api/v1/payments/${tradeNo}`),
      await call(next, 'POST', `/api/v1/payments/${tradeNo}/refund`, { body: { out_request_no: 'r1', refund_amount: '1.00' } }),
      await call(next, 'POST', `/api/v1/payments/${tradeNo}/close`),
    ]) assert.deepEqual([res.status, res.json], [404, { error: 'not_found' }]);
  });

  test('one merchant cannot see, refund or close another merchant\'s payment', async () => {
    const created = await v1Create(legacy, '5.00', 'm1', 'isolated-order');
    const tradeNo = created.json.trade_no;
    const asOther = { merchant: 'm2' };
    assert.equal((await call(legacy, 'GET', `/api/v1/payments/${tradeNo}`, asOther)).status, 404);
    assert.equal((await call(legacy, 'GET', '/api/v1/payments?out_trade_no=isolated-order', asOther)).status, 404);
    assert.equal((await call(legacy, 'POST', `/api/v1/payments/${tradeNo}/refund`, { ...asOther, body: { out_request_no: 'r', refund_amount: '1' } })).status, 404);
    assert.equal((await call(legacy, 'POST', `/api/v1/payments/${tradeNo}/close`, asOther)).status, 404);
    assert.equal((await call(legacy, 'GET', `/api/v1/payments/${tradeNo}`)).json.status, 'TRADE_SUCCESS');
  });
});

describe('refunds never exceed what is left', () => {
  test('v1: 6.00 + 4.00 of 10.00 pass, one fen more is refund_exceeds_amount', async () => {
    const tradeNo = (await v1Create(legacy, '10.00')).json.trade_no;
    const refund = (no: string, amount: string) =>
      call(legacy, 'POST', `/api/v1/payments/${tradeNo}/refund`, { body: { out_request_no: no, refund_amount: amount } });
    assert.equal((await refund('a', '10.01')).json.error, 'refund_exceeds_amount');
    assert.equal((await refund('b', '6.00')).status, 200);
    assert.equal((await refund('b', '6.00')).status, 200, 'a repeated out_request_no refunds once');
    assert.equal((await refund('c', '4.00')).status, 200);
    const over = await refund('d', '0.01');
    assert.deepEqual([over.status, over.json], [400, { error: 'refund_exceeds_amount' }]);
  });

  test('v2: a refund above the amount answers 400', async () => {
    const id = (await v2Create(next, 100)).json.id;
    const over = await v2Post(next, `/api/v2/payments/${id}/refunds`, { amount: { value: 101, currency: 'CNY' } });
    assert.deepEqual([over.status, over.json], [400, { error: 'refund_exceeds_amount' }]);
  });
});

describe('switches for tests and benchmarks', () => {
  test('failRate 1 answers every merchant call 500 injected_failure; 0 stops it', async () => {
    const { backend, base } = await start({ kind: 'legacy', failRate: 1 });
    for (let i = 0; i < 3; i++) assert.deepEqual((await v1Create(base)).json, { error: 'injected_failure' });
    assert.equal((await call(base, 'GET', '/_health')).status, 200, 'control endpoints never fail');
    backend.controls.failRate = 0;
    assert.equal((await v1Create(base)).status, 200);
  });

  test('failRate draws from the given random source', async () => {
    let draw = 0.3;
    const { base } = await start({ kind: 'next', failRate: 0.5, random: () => draw });
    assert.equal((await v1Create(base)).status, 500);
    draw = 0.7;
    assert.equal((await v1Create(base)).status, 200);
  });

  test('latencyMs delays the answer by at least that long, set in code or over HTTP', async () => {
    const { backend, base } = await start({ kind: 'next' });
    const timed = async () => {
      const t0 = performance.now();
      await call(base, 'GET', '/api/v1/payments/none');
      return performance.now() - t0;
    };
    backend.controls.latencyMs = 150;
    assert.ok((await timed()) >= 150);
    const put = await call(base, 'PUT', '/_control', { body: { latencyMs: 250 } });
    assert.deepEqual(put.json, { latencyMs: 250, failRate: 0 });
    assert.equal(backend.controls.latencyMs, 250);
    assert.ok((await timed()) >= 250);
  });

  test('/_control reads and sets the switches and refuses bad values; /_stats counts', async () => {
    const { base } = await start({ kind: 'legacy', latencyMs: 0 });
    assert.deepEqual((await call(base, 'GET', '/_control')).json, { latencyMs: 0, failRate: 0 });
    assert.deepEqual((await call(base, 'PUT', '/_control', { body: { failRate: 1 } })).json, { latencyMs: 0, failRate: 1 });
    assert.equal((await v1Create(base)).status, 500);
    assert.equal((await call(base, 'PUT', '/_control', { body: { failRate: 1.5 } })).status, 400);
    assert.equal((await call(base, 'PUT', '/_control', { body: { failRate: 0, speed: 1 } })).status, 400);
    assert.deepEqual((await call(base, 'PUT', '/_control', { body: { failRate: 0 } })).json, { latencyMs: 0, failRate: 0 });
    await v1Create(base);
    assert.deepEqual((await call(base, 'GET', '/_stats')).json, { payments: 1, requests: 2 });
  });
});

function getRaw(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe('unmodelled endpoints', () => {
  test('stream sends exactly N bytes of x, chunked', async () => {
    const n = 3 * 65_536 + 123;
    const res = await getRaw(`${legacy}/api/v1/stream?bytes=${n}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['transfer-encoding'], 'chunked');
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    assert.equal(res.body.length, n);
    assert.ok(res.body.every((byte) => byte === 0x78));
    assert.equal((await getRaw(`${next}/api/v2/stream?bytes=0`)).body.length, 0);
    assert.equal((await getRaw(`${next}/api/v2/stream?bytes=${100 * 1024 * 1024 + 1}`)).status, 400);
  });

  test('echo answers the method, path, headers and raw body it received', async () => {
    const res = await call(next, 'POST', '/api/v2/echo?x=1', { body: '{"a": 1}', headers: { 'x-trace': 't1' } });
    assert.equal(res.json.method, 'POST');
    assert.equal(res.json.path, '/api/v2/echo?x=1');
    assert.equal(res.json.headers['x-trace'], 't1');
    assert.equal(res.json.headers['x-merchant-id'], 'm1');
    assert.equal(res.json.body, '{"a": 1}');
  });
});

describe('backends/main.ts runs one backend on its own', () => {
  let child: ChildProcess | undefined;
  after(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  test('prints its listening line, serves, and exits 0 on SIGTERM', async () => {
    const script = fileURLToPath(new URL('../backends/main.ts', import.meta.url));
    child = spawn(process.execPath, [script, 'legacy', '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = once(child, 'exit');
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const match = /^legacy listening on http:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
    assert.ok(match, `listening line, got: ${line}`);
    const health = await fetch(`http://127.0.0.1:${match[1]}/_health`);
    assert.equal(health.status, 200);
    assert.equal(health.headers.get('x-backend'), 'legacy');
    child.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);
  });
});
