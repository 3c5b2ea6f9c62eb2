import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { Server } from 'node:http';
import { orderId, startBackends, testConfig, v1Create, type Backends } from './helpers/stack.ts';
import { buildApp, type Gateway } from '../app/build.ts';
import { buildConfig } from '../gateway/config.ts';
import { createLogger } from '../gateway/log.ts';
import { createServer, listen } from '../gateway/data/server.ts';
import { openStore } from '../gateway/store/open.ts';
import type { Store } from '../gateway/store/types.ts';

// SPEC 9: structured JSON logs, one line per request with request id, merchant, backend,
// reason, status and duration; SPEC 10 and log.ts: no bodies, tokens or card data.

const CARD = '4111111111111111';
const TOKEN = 'sk_live_secret_token_0123456789';

let backends: Backends;
let gw: Gateway;
let store: Store;
let server: Server;
let url: string;
const lines: string[] = [];

before(async () => {
  backends = await startBackends();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) { lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== '')); done(); },
  });
  const config = buildConfig(testConfig(backends.urls, { logLevel: 'info' }));
  const log = createLogger(config.logLevel, sink);
  store = await openStore(config, log);
  gw = buildApp({ config, store, log });
  await gw.start();
  server = createServer(gw.dataApp, config.limits);
  url = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await gw.stop();
  await store.close();
  await backends.close();
});

const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
const requestLines = (requestId: string) => parsed().filter((l) => l.msg === 'request' && l.requestId === requestId);

function send(path: string, init: { method?: string; body?: string; requestId: string; merchant?: string; headers?: Record<string, string> }) {
  return fetch(`${url}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      'x-request-id': init.requestId, 'x-merchant-id': init.merchant ?? 'M-LOG', authorization: `Bearer ${TOKEN}`, cookie: `session=${TOKEN}`,
      ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers,
    },
    body: init.body,
  });
}

test('a forwarded request writes exactly one JSON line with the routing and timing fields', async () => {
  const res = await send('/api/v1/payments', { method: 'POST', requestId: 'req-log-create', body: JSON.stringify({ ...v1Create(orderId()), subject: `card ${CARD}` }) });
  assert.equal(res.status, 200);
  const { trade_no: tradeNo } = await res.json();
  const follow = await send(`/api/v1/payments/${tradeNo}`, { requestId: 'req-log-follow' });
  assert.equal(follow.status, 200);
  await new Promise((r) => setImmediate(r));
  const [create, ...more] = requestLines('req-log-create');
  assert.equal(more.length, 0, 'one line per request');
  assert.equal(create.merchant, 'M-LOG');
  assert.equal(create.backend, 'legacy');
  assert.equal(create.reason, 'default');
  assert.equal(create.status, 200);
  assert.equal(typeof create.durationMs, 'number');
  assert.ok((create.durationMs as number) >= 0);
  const followLines = requestLines('req-log-follow');
  assert.equal(followLines.length, 1);
  assert.equal(followLines[0].reason, 'pinned');
  assert.equal(followLines[0].backend, 'legacy');
});

test('refused and failed requests get their line too, with the status the merchant saw', async () => {
  await (await send('/api/v1/payments', { method: 'POST', requestId: 'req-log-invalid', body: `{"card_number":"${CARD}"}` })).text();
  await (await send('/api/v9/payments', { requestId: 'req-log-version' })).text();
  backends.legacy.controls.failRate = 1;
  try {
    await (await send('/api/v1/echo', { requestId: 'req-log-500' })).text();
  } finally {
    backends.legacy.controls.failRate = 0;
  }
  await new Promise((r) => setImmediate(r));
  const [invalid] = requestLines('req-log-invalid');
  assert.equal(invalid.status, 400);
  assert.equal(invalid.merchant, 'M-LOG');
  assert.equal(requestLines('req-log-version')[0].status, 404);
  const [failed] = requestLines('req-log-500');
  assert.equal(failed.status, 500);
  assert.equal(failed.backend, 'legacy');
  for (const id of ['req-log-invalid', 'req-log-version', 'req-log-500']) assert.equal(requestLines(id).length, 1, id);
});

test('no line holds a card number, a token, a cookie or a body', async () => {
  await (await send(`/api/v1/echo?card=${CARD}`, { requestId: 'req-log-query' })).text();
  await new Promise((r) => setImmediate(r));
  assert.ok(lines.length >= 6);
  for (const line of lines) {
    assert.doesNotMatch(line, new RegExp(CARD), line);
    assert.doesNotMatch(line, new RegExp(TOKEN), line);
    assert.doesNotMatch(line, /out_trade_no|total_amount|card_number|"body"/, line);
  }
  assert.ok(parsed().every((l) => typeof l.time === 'string' && l.service === 'cutover'));
});
