/**
 * HTTP servers with limits tighter than Node's defaults, a JSON answer for
 * requests the parser refuses (smuggling shapes, oversized headers), and a
 * bounded drain.
 */
import http, { type RequestListener } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from './config.ts';

const CLIENT_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'header_too_large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'request_timeout'],
};

/** Creates a server with the configured limits; refused requests get a JSON error and a closed connection. */
export function createServer(handler: RequestListener, limits: Readonly<Config['limits']>): http.Server {
  const server = http.createServer({
    maxHeaderSize: limits.headerBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    // No lenient parsing: CL+TE, duplicate Content-Length, bad chunking, bare LF are parse errors (RFC 9112 6.3, 11.2).
    insecureHTTPParser: false,
    requireHostHeader: false,
  }, handler);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || (err.code === 'ECONNRESET')) { socket.destroy(); return; }
    const [status, code] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'bad_request'];
    const body = JSON.stringify({ error: code, message: `The request was refused by the HTTP parser (${err.code ?? 'malformed'})` });
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  return server;
}

/** Stops accepting, lets in-flight requests finish up to `timeoutMs`, then cuts what is left. */
export async function drain(server: http.Server, timeoutMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
  await closed;
  clearTimeout(timer);
}

export function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as { port: number }).port);
    });
  });
}
