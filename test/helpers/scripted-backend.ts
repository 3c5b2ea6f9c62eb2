/**
 * A recording backend on loopback whose answers a test scripts: every request
 * it receives is kept (method, path, body), and each create may be held until
 * the test says how to answer it, to set up races between answers.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received { method: string; url: string; body: string; answer(status: number, body?: unknown): void }

export interface ScriptedBackend {
  url: string;
  /** Every request received, in arrival order. */
  received: Received[];
  /** How requests are answered unless held: status and body from the request. */
  reply: (r: Received) => { status: number; body: unknown } | 'hold';
  /** Resolves once `n` requests have arrived. */
  arrived(n: number): Promise<void>;
  close(): Promise<void>;
}

/** A created payment's answer in the shape of its API version (v1 `trade_no`, v2 `id`). */
export function created(r: Received, id: string): { status: number; body: unknown } {
  return { status: 201, body: r.url.startsWith('/api/v1/') ? { trade_no: id, code: '10000' } : { id, status: 'pending' } };
}

export async function startScriptedBackend(): Promise<ScriptedBackend> {
  const waiters: { n: number; resolve(): void }[] = [];
  let seq = 0;
  const b: ScriptedBackend = {
    url: '', received: [],
    reply: (r) => created(r, `pay_scripted_${seq++}`),
    arrived: (n) => new Promise((resolve) => { if (b.received.length >= n) resolve(); else waiters.push({ n, resolve }); }),
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = {
        method: req.method!, url: req.url!, body: Buffer.concat(chunks).toString('utf8'),
        answer(status, body = {}) {
          const text = JSON.stringify(body);
          res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
        },
      };
      b.received.push(r);
      for (const w of waiters.filter((x) => b.received.length >= x.n)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
      const planned = b.reply(r);
      if (planned !== 'hold') r.answer(planned.status, planned.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  b.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return b;
}
