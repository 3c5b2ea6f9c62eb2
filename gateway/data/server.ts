/**
 * HTTP servers with limits tighter than Node's defaults, a JSON answer for
 * requests the parser refuses (smuggling shapes, oversized headers), and a
 * bounded drain.
 */
import http, { type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.ts';
import { GatewayError, rawErrorResponse, requestIdOf, sendError, type ErrorCode } from '../errors.ts';
import { hostProblem } from './headers.ts';

/** Parser refusals with a code of their own; any other is `bad_request`. */
const CLIENT_ERRORS: Record<string, ErrorCode> = {
  HPE_HEADER_OVERFLOW: 'header_too_large',
  ERR_HTTP_REQUEST_TIMEOUT: 'request_timeout',
};

/**
 * Framing that Node's parser accepts but a proxy must not: a Transfer-Encoding
 * other than one plain "chunked" (sent twice, or with another coding). The
 * gateway re-frames bodies with a Content-Length and decodes no other coding,
 * so such a body would reach the backend as something the merchant did not
 * mean (RFC 9112 6.1, 6.3).
 */
function ambiguousFraming(req: IncomingMessage): string | undefined {
  const te = req.headers['transfer-encoding'];
  if (te === undefined) return undefined;
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i].toLowerCase() === 'transfer-encoding') count++;
  if (count > 1 || te.trim().toLowerCase() !== 'chunked') return 'Only a single "Transfer-Encoding: chunked" is accepted';
  return undefined;
}

/** Servers that are draining: their answers close the connection they came on. */
const draining = new WeakSet<http.Server>();

/**
 * Refuses ambiguous framing and a missing, repeated or invalid Host before
 * any router sees the request, on both ports (the admin port has no use for
 * a Host it cannot read either), and ignores whatever was pipelined behind a
 * refused request: its connection closes once the refusal is written.
 */
function receiveOn(server: http.Server, handler: RequestListener): RequestListener {
  const refused = new WeakSet<Socket>();
  return function receive(req, res) {
    if (refused.has(req.socket)) return;
    if (draining.has(server)) res.setHeader('connection', 'close');
    const framing = ambiguousFraming(req);
    const host = framing === undefined ? hostProblem(req) : undefined;
    if (framing === undefined && host === undefined) { handler(req, res); return; }
    refused.add(req.socket);
    res.setHeader('connection', 'close');
    const refusal = framing !== undefined
      ? new GatewayError('bad_request', { message: framing })
      : new GatewayError('invalid_host', { message: host! });
    sendError(res, refusal, requestIdOf(req.headers), undefined);
  };
}

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
  });
  server.on('request', receiveOn(server, handler));
  /** Connections whose parser error has been dealt with: llhttp reports it again on every later read. */
  const failed = new WeakSet<Socket>();
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || (err.code === 'ECONNRESET')) { socket.destroy(); return; }
    if (failed.has(socket)) return;
    failed.add(socket);
    // One answer per connection. When a request on it is still being answered, the parse error
    // is in what came after it (a stray byte behind a complete request, or the body of a request
    // whose head was already refused): that request keeps its own answer, which now says
    // "Connection: close", and the connection closes once it is written. A 400 here would tell
    // the merchant "refused" while the backend made the refund, and cut the real answer.
    const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (current && (current.headersSent || current.req.complete)) {
      socket.pause();
      if (!current.headersSent) current.setHeader('connection', 'close');
      if (current.writableFinished) socket.end(); else current.once('finish', () => socket.end());
      return;
    }
    const code = CLIENT_ERRORS[err.code ?? ''] ?? 'bad_request';
    const refusal = new GatewayError(code, { message: `The request was refused by the HTTP parser (${err.code ?? 'malformed'})`, cause: err });
    // The parser never produced a request, so there is no caller's id to keep.
    socket.end(rawErrorResponse(refusal, randomUUID()));
  });
  return server;
}

/**
 * Stops accepting, lets in-flight requests finish up to `timeoutMs`, then
 * cuts what is left. Keep-alive connections are closed as soon as their
 * answer is out (Node only closes the ones idle when `close()` is called),
 * and answers given meanwhile say `Connection: close`.
 */
export async function drain(server: http.Server, timeoutMs: number): Promise<void> {
  draining.add(server);
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), 25);
  const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
  await closed;
  clearInterval(sweep);
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
