/**
 * A backend that records every request it receives (method, target, raw
 * headers, body bytes) and answers 200 JSON: for tests that assert exactly
 * what reached a backend, or that nothing did.
 */
import http from 'node:http';
import { after, before } from 'node:test';
import { listen } from '../../gateway/data/server.ts';
import { startGateway, testConfig, type RunningGateway } from './stack.ts';

export interface Received { method: string; url: string; rawHeaders: string[]; headers: http.IncomingHttpHeaders; body: Buffer }

export interface RecordingBackend {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/** Starts a recording backend on a loopback port. Creates get a legacy-shaped id, so that the gateway can pin them. */
export async function startRecordingBackend(): Promise<RecordingBackend> {
  const received: Received[] = [];
  let seq = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, headers: req.headers, body: Buffer.concat(chunks) });
      const body = JSON.stringify({ trade_no: `20261201${String(++seq).padStart(8, '0')}`, id: `pay_rec${seq}`, status: 'WAIT_BUYER_PAY' });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  const port = await listen(server, 0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${port}`, received,
    async close() { server.closeAllConnections(); await new Promise((r) => server.close(r)); },
  };
}

/**
 * Registers before/after hooks that start one recording backend and a gateway
 * whose legacy and next both point at it (`overrides` merged into the test
 * config, `options` as for `startGateway`), and returns live accessors to them.
 */
export function useRecordingStack(overrides: Record<string, unknown> = {}, options: Parameters<typeof startGateway>[1] = {}) {
  let rec: RecordingBackend;
  let gw: RunningGateway;
  before(async () => {
    rec = await startRecordingBackend();
    gw = await startGateway(testConfig({ legacy: rec.url, next: rec.url }, overrides), options);
  });
  after(async () => { await gw?.close(); await rec?.close(); });
  return {
    get rec() { return rec; },
    get gw() { return gw; },
  };
}
