/**
 * A lean HTTP/1.1 keep-alive client for the paced load: one request at a
 * time per connection, a pool that opens connections as needed, and a parser
 * for exactly what the targets send (Content-Length or chunked bodies).
 * node:http's client costs several times more CPU per request, and on a
 * small machine the load generator's CPU is taken from the target.
 */
import { connect, type Socket } from 'node:net';

export interface RawAnswer { status: number; body: string }

interface Pending { resolve(a: RawAnswer): void; reject(e: Error): void }

const HEAD_END = Buffer.from('\r\n\r\n');
const REQUEST_TIMEOUT_MS = 10_000;
/**
 * An idle connection older than this is closed rather than reused: a server
 * closes idle keep-alive connections after its own timeout (5 s by default in
 * Node), and a request sent just as it does fails for no fault of the target.
 */
const MAX_IDLE_MS = 2000;

/** Parses one response at the front of `buf`: the answer and its length, or null when incomplete. */
export function parseResponse(buf: Buffer): { answer: RawAnswer; length: number } | null {
  const headEnd = buf.indexOf(HEAD_END);
  if (headEnd === -1) return null;
  const head = buf.toString('latin1', 0, headEnd);
  const status = Number(head.slice(9, 12));
  const lengthMatch = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  const bodyStart = headEnd + 4;
  if (lengthMatch) {
    const end = bodyStart + Number(lengthMatch[1]);
    if (buf.length < end) return null;
    return { answer: { status, body: buf.toString('utf8', bodyStart, end) }, length: end };
  }
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    const parts: Buffer[] = [];
    let at = bodyStart;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', at);
      if (lineEnd === -1) return null;
      const size = parseInt(buf.toString('latin1', at, lineEnd), 16);
      if (size === 0) {
        const end = buf.indexOf('\r\n', lineEnd + 2);
        if (end === -1) return null;
        return { answer: { status, body: Buffer.concat(parts).toString('utf8') }, length: end + 2 };
      }
      if (buf.length < lineEnd + 2 + size + 2) return null;
      parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  return { answer: { status, body: '' }, length: bodyStart };
}

class Connection {
  readonly socket: Socket;
  #buf: Buffer = Buffer.alloc(0);
  #pending: Pending | null = null;
  closed = false;
  /** When the connection last became idle (performance.now()). */
  idleSince = 0;

  constructor(host: string, port: number, onIdle: (c: Connection) => void, onClose: (c: Connection) => void) {
    this.socket = connect({ host, port, noDelay: true });
    // A target that stops answering fails its requests instead of holding the run open.
    this.socket.setTimeout(REQUEST_TIMEOUT_MS, () => this.socket.destroy(new Error('timeout')));
    this.socket.on('data', (chunk: Buffer) => {
      this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
      const parsed = parseResponse(this.#buf);
      if (!parsed || !this.#pending) return;
      this.#buf = this.#buf.subarray(parsed.length);
      const p = this.#pending;
      this.#pending = null;
      this.idleSince = performance.now();
      onIdle(this);
      p.resolve(parsed.answer);
    });
    const fail = (err: Error) => {
      if (this.closed) return;
      this.closed = true;
      onClose(this);
      this.#pending?.reject(err);
      this.#pending = null;
    };
    this.socket.on('error', fail);
    this.socket.on('close', () => fail(new Error('connection closed')));
  }

  send(raw: Buffer, p: Pending): void {
    this.#pending = p;
    this.socket.write(raw);
  }
}

/** A pool of keep-alive connections to one host:port. */
export class RawClient {
  readonly #host: string;
  readonly #port: number;
  readonly #idle: Connection[] = [];
  readonly #all = new Set<Connection>();
  readonly #maxIdleMs: number;

  constructor(base: string, opts: { maxIdleMs?: number } = {}) {
    const url = new URL(base);
    this.#host = url.hostname;
    this.#port = Number(url.port);
    this.#maxIdleMs = opts.maxIdleMs ?? MAX_IDLE_MS;
  }

  /** The most recently idle connection young enough to reuse; older ones are closed. */
  #reusable(): Connection | undefined {
    const now = performance.now();
    for (let c = this.#idle.pop(); c; c = this.#idle.pop()) {
      if (now - c.idleSince <= this.#maxIdleMs) return c;
      this.#all.delete(c);
      c.closed = true;
      c.socket.destroy();
    }
    return undefined;
  }

  request(method: string, path: string, headers: Record<string, string>, body?: string): Promise<RawAnswer> {
    const bodyBuf = body === undefined ? undefined : Buffer.from(body);
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.#host}:${this.#port}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    if (bodyBuf) head += `content-length: ${bodyBuf.length}\r\n`;
    const raw = bodyBuf ? Buffer.concat([Buffer.from(`${head}\r\n`), bodyBuf]) : Buffer.from(`${head}\r\n`);
    const conn = this.#reusable() ?? this.#open();
    return new Promise((resolve, reject) => conn.send(raw, { resolve, reject }));
  }

  #open(): Connection {
    const c = new Connection(this.#host, this.#port, (idle) => this.#idle.push(idle), (gone) => {
      this.#all.delete(gone);
      const i = this.#idle.indexOf(gone);
      if (i !== -1) this.#idle.splice(i, 1);
    });
    this.#all.add(c);
    return c;
  }

  get connections(): number { return this.#all.size; }

  close(): void {
    for (const c of this.#all) c.socket.destroy();
  }
}
