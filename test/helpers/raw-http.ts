/**
 * Raw HTTP over TCP for what no well-behaved peer does. A client that sends
 * smuggling shapes, bare LF line endings, slow or duplicate headers, writing
 * bytes as given and reading until the server closes or a deadline. And a
 * backend that resets connections on cue, to see what the gateway retries.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface RawAnswer {
  /** Status of the first response, or undefined when none came. */
  status?: number;
  /** Header section of the first response, names lower-cased (last value wins). */
  headers: Record<string, string>;
  /** Body of the first response (by Content-Length when given, else everything after the head). */
  body: string;
  /** Every byte received. */
  raw: string;
  /** True when the server closed the connection before the deadline. */
  closedByServer: boolean;
  /** Milliseconds from the first write to the close (or the deadline). */
  elapsedMs: number;
}

export interface RawOptions {
  /** Give up reading after this long (default 2000 ms); the answer says whether the server closed first. */
  timeoutMs?: number;
  /** Pause between the given parts, in ms (for slow senders). */
  pauseMs?: number;
}

function target(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

/** Parses the first response out of the received bytes. */
export function parseFirstResponse(raw: string): Pick<RawAnswer, 'status' | 'headers' | 'body'> {
  const end = raw.indexOf('\r\n\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(raw)?.[1];
  if (end === -1 || status === undefined) return { status: status === undefined ? undefined : Number(status), headers: {}, body: '' };
  const headers: Record<string, string> = {};
  for (const line of raw.slice(0, end).split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = raw.slice(end + 4);
  const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
  return { status: Number(status), headers, body: length === undefined ? rest : rest.slice(0, length) };
}

/**
 * Writes `parts` (pausing `pauseMs` between them) and collects what comes
 * back until the server closes or `timeoutMs` passes. Never ends the
 * writing side itself, so a server that waits for more bytes is seen waiting.
 */
export function rawRequest(url: string, parts: string | Buffer | Array<string | Buffer>, opts: RawOptions = {}): Promise<RawAnswer> {
  const list = Array.isArray(parts) ? parts : [parts];
  const { host, port } = target(url);
  const timeoutMs = opts.timeoutMs ?? 2000;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket: Socket = connect(port, host);
    let started = 0;
    let settled = false;
    const finish = (closedByServer: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      socket.destroy();
      const raw = Buffer.concat(chunks).toString('latin1');
      resolve({ ...parseFirstResponse(raw), raw, closedByServer, elapsedMs: Date.now() - started });
    };
    const deadline = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => finish(true));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset after the answer arrived still counts as the server closing.
      if (chunks.length > 0 || err.code === 'ECONNRESET' || err.code === 'EPIPE') finish(true);
      else { settled = true; clearTimeout(deadline); reject(err); }
    });
    socket.on('connect', async () => {
      started = Date.now();
      for (let i = 0; i < list.length; i++) {
        if (socket.destroyed) return;
        socket.write(list[i]);
        if (opts.pauseMs && i < list.length - 1) await new Promise((r) => setTimeout(r, opts.pauseMs));
      }
    });
  });
}

export interface FlakyBackend {
  url: string;
  /** Request heads received (each one reached the backend). */
  requests: number;
  /** TCP connections accepted. */
  connections: number;
  /** How many of the next requests are answered by resetting their connection. */
  resetNext: number;
  close(): Promise<void>;
}

/**
 * A backend that answers every request `200 {"ok":true}` with keep-alive, except
 * that the next `resetNext` requests get their connection reset (TCP RST) once
 * they have fully arrived: the request reached the backend, no answer came back.
 */
export async function startFlakyBackend(resetNext = 0): Promise<FlakyBackend> {
  const sockets = new Set<Socket>();
  const state: FlakyBackend = {
    url: '', requests: 0, connections: 0, resetNext,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  const server: Server = createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      let end: number;
      while ((end = pending.indexOf('\r\n\r\n')) !== -1) {
        const head = pending.slice(0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        pending = pending.slice(end + 4 + length);
        state.requests++;
        if (state.resetNext > 0) { state.resetNext--; socket.resetAndDestroy(); return; }
        const body = '{"ok":true}';
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: keep-alive\r\n\r\n${body}`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return state;
}
