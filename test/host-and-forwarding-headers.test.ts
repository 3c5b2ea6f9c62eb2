import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_TOKEN } from './helpers/stack.ts';
import { useRecordingStack } from './helpers/recording-backend.ts';
import { rawRequest } from './helpers/raw-http.ts';

// RFC 9112 3.2: an HTTP/1.1 request has exactly one valid Host, else 400. X-Forwarded-Host
// and -Port come only from that Host; the client's Forwarded and X-Real-IP never reach a
// backend (the gateway speaks X-Forwarded-* only).

const stack = useRecordingStack();

const get = (url: string, headers: string, version = '1.1', path = '/api/v1/echo') =>
  rawRequest(url, `GET ${path} HTTP/${version}\r\n${headers}X-Merchant-Id: M-HOST\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nConnection: close\r\n\r\n`);

test('no Host, two Hosts, or an invalid Host is 400 invalid_host and reaches no backend', async () => {
  for (const headers of [
    '', 'Host: a.example\r\nHost: b.example\r\n', 'Host: a.example\r\nHost: a.example\r\n', 'Host: evil.com/x?@y:99999\r\n', 'Host: evil.com:99999\r\n',
    'Host: a.example:80:81\r\n', 'Host: user@a.example\r\n', 'Host: a%2eexample\r\n', 'Host: a.example:\r\n', 'Host: \r\n', 'Host: a b\r\n',
  ]) {
    const before = stack.rec.received.length;
    const answer = await get(stack.gw.url, headers);
    assert.equal(answer.status, 400, `${JSON.stringify(headers)}: ${answer.raw.slice(0, 200)}`);
    assert.equal(JSON.parse(answer.body).error, 'invalid_host', JSON.stringify(headers));
    assert.ok(answer.closedByServer);
    assert.equal(stack.rec.received.length, before, `${JSON.stringify(headers)} reached the backend`);
  }
});

test('HTTP/1.0 without Host is served; a valid Host with a port or an IPv6 literal is accepted', async () => {
  assert.equal((await get(stack.gw.url, '', '1.0')).status, 200);
  assert.equal((await get(stack.gw.url, 'Host: [::1]:8443\r\n')).status, 200);
  assert.equal(stack.rec.received.at(-1)!.headers['x-forwarded-host'], '[::1]:8443');
  assert.equal(stack.rec.received.at(-1)!.headers['x-forwarded-port'], '8443');
});

test('X-Forwarded-* come from the validated Host and the socket; Forwarded and X-Real-IP never reach a backend', async () => {
  const answer = await get(stack.gw.url, 'Host: shop.example:8080\r\nForwarded: for=1.2.3.4;host=evil;proto=https\r\nX-Real-IP: 1.2.3.4\r\n'
    + 'X-Forwarded-Host: evil.example\r\nX-Forwarded-Port: 99999\r\nX-Forwarded-Proto: https\r\nX-Forwarded-For: 9.9.9.9\r\n');
  assert.equal(answer.status, 200, answer.raw.slice(0, 300));
  const got = stack.rec.received.at(-1)!;
  assert.equal(got.headers['x-forwarded-host'], 'shop.example:8080');
  assert.equal(got.headers['x-forwarded-port'], '8080');
  assert.equal(got.headers['x-forwarded-proto'], 'http');
  assert.equal(got.headers['x-forwarded-for'], '9.9.9.9, 127.0.0.1', 'the real peer is always the last entry');
  assert.equal(got.headers.forwarded, undefined);
  assert.equal(got.headers['x-real-ip'], undefined);
  assert.equal(got.rawHeaders.filter((h) => /^x-forwarded-(host|port)$/i.test(h)).length, 2, 'one of each');
  assert.equal(got.headers.host, new URL(stack.rec.url).host, 'Host names the backend');
});

test('the admin port holds the same Host rule', async () => {
  assert.equal((await get(stack.gw.adminUrl, '', '1.1', '/admin/rules')).status, 400);
  assert.equal(JSON.parse((await get(stack.gw.adminUrl, 'Host: a\r\nHost: b\r\n', '1.1', '/admin/rules')).body).error, 'invalid_host');
  assert.equal((await get(stack.gw.adminUrl, 'Host: admin.internal:8081\r\n', '1.1', '/admin/rules')).status, 200);
});
