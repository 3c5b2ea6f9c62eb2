/**
 * Column (n) of the benchmark: a proxy on Node's HTTP server and the same
 * upstream transport as the gateway (an undici pool per backend), no
 * framework and no logic (no validation, rules, pins, metrics or logs).
 * v1 goes to one backend and v2 to the other by path; answers stream. What it
 * costs is the floor for the gateway's design on this machine.
 *
 *   node bench/node-proxy.ts --port N --v1 http://127.0.0.1:A --v2 http://127.0.0.1:B
 */
import http from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' }, v1: { type: 'string' }, v2: { type: 'string' } } });
if (!values.port || !values.v1 || !values.v2) {
  console.error('usage: node bench/node-proxy.ts --port N --v1 URL --v2 URL');
  process.exit(2);
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection', 'trailer', 'expect', 'host', 'content-length']);
const pools = [values.v1, values.v2].map((u) => new Pool(u!, { connections: 256, keepAliveTimeout: 4000 }));

function requestHeaders(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP_BY_HOP.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  return out;
}

function answerHeaders(headers: Record<string, string | string[] | undefined>): string[] {
  const out: string[] = [];
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined || HOP_BY_HOP.has(name)) continue;
    if (typeof v === 'string') out.push(name, v); else for (const x of v) out.push(name, x);
  }
  if (headers['content-length'] !== undefined) out.push('content-length', String(headers['content-length']));
  return out;
}

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') { res.writeHead(200, ['content-type', 'application/json']).end('{"status":"ok"}'); return; }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart() {},
      onResponseStart(_c, status, headers) { res.writeHead(status, answerHeaders(headers as Record<string, string>)); },
      onResponseData(c, chunk) { if (!res.write(chunk)) { c.pause(); res.once('drain', () => c.resume()); } },
      onResponseEnd() { res.end(); },
      onResponseError() { if (!res.headersSent) res.writeHead(502).end(); else res.destroy(); },
    };
    pools[req.url!.startsWith('/api/v2') ? 1 : 0].dispatch({
      method: req.method as Dispatcher.HttpMethod, path: req.url!, headers: requestHeaders(req.rawHeaders), body: body.length > 0 ? body : null,
    }, handler);
  });
});
server.keepAliveTimeout = 5000;
server.listen(Number(values.port), '127.0.0.1', () => console.log(`node proxy listening on http://127.0.0.1:${values.port}`));
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => { server.close(() => process.exit(0)); server.closeAllConnections(); });
}
