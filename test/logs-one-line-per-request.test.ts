import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderId, useStack, v1Create } from './helpers/stack.ts';
import { logSink } from './helpers/log-sink.ts';

// SPEC 9: structured JSON logs, one line per request with request id, merchant, backend,
// reason, status and duration; SPEC 10 and log.ts: no bodies, tokens or card data.

const CARD = '4111111111111111';
const TOKEN = 'sk_live_secret_token_0123456789';

const log = logSink();
const stack = useStack(() => ({ overrides: { logLevel: 'info' }, logTo: log.stream }));

const requestLines = (requestId: string) => log.records().filter((l) => l.msg === 'request' && l.requestId === requestId);

function send(path: string, init: { method?: string; body?: string; requestId: string; merchant?: string; headers?: Record<string, string> }) {
  return fetch(`${stack.gw.url}${path}`, {
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
  stack.backends.legacy.controls.failRate = 1;
  try {
    await (await send('/api/v1/echo', { requestId: 'req-log-500' })).text();
  } finally {
    stack.backends.legacy.controls.failRate = 0;
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
  assert.ok(log.lines.length >= 6);
  for (const line of log.lines) {
    assert.doesNotMatch(line, new RegExp(CARD), line);
    assert.doesNotMatch(line, new RegExp(TOKEN), line);
    assert.doesNotMatch(line, /out_trade_no|total_amount|card_number|"body"/, line);
  }
  assert.ok(log.records().every((l) => typeof l.time === 'string' && l.service === 'cutover'));
});
