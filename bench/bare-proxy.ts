/**
 * Column (b) of the benchmark: express + http-proxy-middleware with no logic
 * at all (no validation, no rules, no pins, no metrics, no logs). v1 goes to
 * one backend and v2 to the other by path, on the same kind of keep-alive
 * pool as the gateway's. What it costs is the floor for a Node proxy.
 *
 *   node bench/bare-proxy.ts --port N --v1 http://127.0.0.1:A --v2 http://127.0.0.1:B
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';

const { values } = parseArgs({ options: { port: { type: 'string' }, v1: { type: 'string' }, v2: { type: 'string' } } });
if (!values.port || !values.v1 || !values.v2) {
  console.error('usage: node bench/bare-proxy.ts --port N --v1 URL --v2 URL');
  process.exit(2);
}

const agentFor = () => new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 4000, scheduling: 'lifo' });
const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.get('/healthz', (_req, res) => { res.json({ status: 'ok' }); });
app.use(createProxyMiddleware({ target: values.v1, pathFilter: '/api/v1', changeOrigin: true, agent: agentFor() }));
app.use(createProxyMiddleware({ target: values.v2, pathFilter: '/api/v2', changeOrigin: true, agent: agentFor() }));

const server = http.createServer(app);
server.keepAliveTimeout = 5000;
server.listen(Number(values.port), '127.0.0.1', () => console.log(`bare proxy listening on http://127.0.0.1:${values.port}`));
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => { server.close(() => process.exit(0)); server.closeAllConnections(); });
}
