import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { startGateway, testConfig, type RunningGateway } from './helpers/stack.ts';
import { listen } from '../gateway/data/server.ts';
import { which } from '../bench/procs.ts';

// A backend URL may be https://: the gateway then speaks TLS to it on a pool of its own,
// trusting the system's CAs (plus NODE_EXTRA_CA_CERTS for a private CA, README).

const openssl = which('openssl');
let backend: https.Server;
let gw: RunningGateway;
const seen: Array<{ url: string; host?: string; proto?: string }> = [];
const systemCAs = tls.getCACertificates('default');

before(async () => {
  if (!openssl) return;
  const dir = mkdtempSync(join(tmpdir(), 'cutover-tls-'));
  execFileSync(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  // What NODE_EXTRA_CA_CERTS does at start-up, done in this process: trust the test's own CA.
  tls.setDefaultCACertificates([...systemCAs, cert]);
  backend = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (req, res) => {
    seen.push({ url: req.url!, host: req.headers.host, proto: req.headers['x-forwarded-proto'] as string | undefined });
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"tls":true}'));
  });
  const url = `https://127.0.0.1:${await listen(backend as unknown as import('node:http').Server, 0, '127.0.0.1')}`;
  gw = await startGateway(testConfig({ legacy: url, next: url }));
});
after(async () => {
  if (!openssl) return;
  await gw.close();
  backend.closeAllConnections();
  await new Promise((r) => backend.close(r));
});

test('a request routed to an https:// backend goes over TLS and comes back', { skip: openssl ? false : 'openssl is not installed' }, async () => {
  const res = await fetch(`${gw.url}/api/v1/payments/T-tls-1`, { headers: { 'x-merchant-id': 'M-TLS' } });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { tls: true });
  const last = seen.at(-1)!;
  assert.equal(last.url, '/api/v1/payments/T-tls-1');
  assert.match(last.host ?? '', /^127\.0\.0\.1:\d+$/, 'Host names the backend');
  assert.equal(last.proto, 'http', 'X-Forwarded-Proto says how the merchant reached the gateway');
});

test('a backend whose certificate is not trusted is 502, never a plaintext fallback', { skip: openssl ? false : 'openssl is not installed' }, async () => {
  tls.setDefaultCACertificates(systemCAs);
  const other = await startGateway(testConfig({ legacy: `https://127.0.0.1:${(backend.address() as { port: number }).port}`, next: `https://127.0.0.1:${(backend.address() as { port: number }).port}` }));
  try {
    const before = seen.length;
    const res = await fetch(`${other.url}/api/v1/payments/T-tls-2`, { headers: { 'x-merchant-id': 'M-TLS' } });
    assert.equal(res.status, 502);
    assert.equal((await res.json()).error, 'backend_error');
    assert.equal(seen.length, before, 'the request never reached the backend');
  } finally {
    await other.close();
  }
});
