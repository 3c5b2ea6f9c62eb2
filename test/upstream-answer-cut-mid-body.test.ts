import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { orderId, startGateway, testConfig, v1Create, type RunningGateway } from './helpers/stack.ts';
import { listen } from '../gateway/data/server.ts';
import { rawRequest } from './helpers/raw-http.ts';

// An answer the backend cuts short must never reach the merchant as if it were whole, and a
// merchant who hangs up mid-answer must free the upstream connection.

const DECLARED = 1000;
let backend: http.Server;
let backendUrl: string;
let gw: RunningGateway;
/** Resolves when the backend sees its answer to a `slow` request abandoned before the end. */
let slowAbandoned: Promise<void>;
let onSlowAbandoned: () => void;

before(async () => {
  slowAbandoned = new Promise((resolve) => { onSlowAbandoned = resolve; });
  backend = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url!.includes('cut') || req.method === 'POST') {
        // Declares 1000 bytes, sends 100, then drops the connection.
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': DECLARED });
        res.write('x'.repeat(100));
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      if (req.url!.includes('slow')) {
        // A long answer in small pieces; the merchant leaves after the first.
        res.writeHead(200, { 'content-type': 'text/plain' });
        const timer = setInterval(() => res.write('y'.repeat(64)), 20);
        res.on('close', () => { clearInterval(timer); if (!res.writableFinished) onSlowAbandoned(); });
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  backendUrl = `http://127.0.0.1:${await listen(backend, 0, '127.0.0.1')}`;
  gw = await startGateway(testConfig({ legacy: backendUrl, next: backendUrl }));
});
after(async () => {
  await gw.close();
  backend.closeAllConnections();
  await new Promise((r) => backend.close(r));
});

test('a streamed answer the backend cuts short cuts the merchant\'s connection before the declared length', async () => {
  const answer = await rawRequest(gw.url, 'GET /api/v1/payments/T-cut-1 HTTP/1.1\r\nHost: gateway\r\nX-Merchant-Id: M-CUT\r\n\r\n', { timeoutMs: 3000 });
  assert.equal(answer.status, 200, 'the head had already gone out when the body broke');
  assert.equal(answer.headers['content-length'], String(DECLARED));
  assert.ok(answer.closedByServer, 'the gateway closed the connection instead of leaving the merchant waiting');
  const body = answer.raw.slice(answer.raw.indexOf('\r\n\r\n') + 4);
  assert.ok(body.length < DECLARED, `only ${body.length} of ${DECLARED} bytes came, and the merchant can tell`);
});

test('a create whose answer is cut short is 502 backend_error, not a truncated success', async () => {
  const res = await fetch(`${gw.url}/api/v1/payments`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-CUT' }, body: JSON.stringify(v1Create(orderId())),
  });
  assert.equal(res.status, 502);
  assert.equal((await res.json()).error, 'backend_error');
});

test('a merchant who hangs up mid-answer makes the gateway drop the upstream connection', async () => {
  const answer = await rawRequest(gw.url, 'GET /api/v1/payments/T-slow-1 HTTP/1.1\r\nHost: gateway\r\nX-Merchant-Id: M-CUT\r\n\r\n', { timeoutMs: 150 });
  assert.equal(answer.status, 200, 'the answer had begun');
  assert.equal(answer.closedByServer, false);
  // rawRequest destroyed the merchant's socket at its deadline.
  const gone = await Promise.race([slowAbandoned.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
  assert.ok(gone, 'the backend saw its answer abandoned: the upstream socket was not left streaming to nobody');
});

test('after all that, the gateway still answers', async () => {
  const res = await fetch(`${gw.url}/api/v1/payments/T-fine-1`, { headers: { 'x-merchant-id': 'M-CUT' } });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true });
});
