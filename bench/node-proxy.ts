/**
 * Column (n) of the benchmark: a proxy on Node's own HTTP server and client,
 * no framework and no logic (no validation, rules, pins, metrics or logs).
 * v1 goes to one backend and v2 to the other by path, on keep-alive pools
 * like the gateway's; bodies stream both ways. What it costs is the floor
 * for any Node proxy on this machine, the gateway included.
 *
 *   node bench/node-proxy.ts --port N --v1 http://127.0.0.1:A --v2 http://127.0.0.1:B
 */
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' }, v1: { type: 'string' }, v2: { type: 'string' } } });
if (!values.port || !values.v1 || !values.v2) {
  console.error('usage: node bench/node-proxy.ts --port N --v1 URL --v2 URL');
  process.exit(2);
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection', 'trailer']);
const upstreams = [values.v1, values.v2].map((u) => {
  const url = new URL(u!);
  return { hostname: url.hostname, port: Number(url.port), host: url.host, agent: new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 4000, scheduling: 'lifo' }) };
});

function withoutHopByHop(raw: string[], host?: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (HOP_BY_HOP.has(name) || (host !== undefined && name === 'host')) continue;
    out.push(raw[i], raw[i + 1]);
  }
  if (host !== undefined) out.push('host', host);
  return out;
}

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') { res.writeHead(200, ['content-type', 'application/json']).end('{"status":"ok"}'); return; }
  const u = upstreams[req.url!.startsWith('/api/v2') ? 1 : 0];
  const upstream = http.request({ agent: u.agent, hostname: u.hostname, port: u.port, method: req.method, path: req.url, headers: withoutHopByHop(req.rawHeaders, u.host) }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, withoutHopByHop(answer.rawHeaders));
    answer.pipe(res);
  });
  upstream.on('error', () => { if (!res.headersSent) res.writeHead(502).end(); else res.destroy(); });
  req.pipe(upstream);
});
server.keepAliveTimeout = 5000;
server.listen(Number(values.port), '127.0.0.1', () => console.log(`node proxy listening on http://127.0.0.1:${values.port}`));
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => { server.close(() => process.exit(0)); server.closeAllConnections(); });
}
