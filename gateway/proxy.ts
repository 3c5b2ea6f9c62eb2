/**
 * Proxy: one http-proxy-middleware instance per backend and mode, created
 * once, on a keep-alive agent whose idle timeout is below the backend's.
 * The body read by the gateway is re-sent byte for byte; responses stream,
 * except a create's, which is buffered so that its transaction id is pinned
 * before the merchant can follow it up.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { EventEmitter } from 'node:events';
import { createProxyMiddleware, type Plugin } from 'http-proxy-middleware';
import type { BackendConfig } from './config.ts';
import { mapUpstreamError } from './upstream-errors.ts';
import { GatewayError } from './errors.ts';

/** What the backend answered: the status always; headers and body when buffered. */
export interface UpstreamAnswer { status: number; headers?: IncomingHttpHeaders; body?: Buffer }

export interface SendOptions {
  body?: Buffer;
  requestId: string;
  /** Buffer the whole answer (creates and queries, whose transaction id is pinned) instead of streaming it. */
  buffered: boolean;
  /** Buffered mode: the backend's answer, when it came after the merchant was answered or gone. */
  onLateAnswer?(answer: UpstreamAnswer): void;
}

interface Exchange {
  backend: string;
  body?: Buffer;
  requestId: string;
  timeoutMs: number;
  timer?: NodeJS.Timeout;
  /** Buffered mode: bound on an answer that arrives after the merchant was answered. */
  lateTimer?: NodeJS.Timeout;
  timedOut: boolean;
  readonly settled: boolean;
  settle(answer: UpstreamAnswer | null, err?: GatewayError): void;
  /** Buffered mode: the backend answered after the merchant had been answered (timeout, hang-up). */
  late?(answer: UpstreamAnswer): void;
  /** The exchange with the backend is over, whatever its outcome. */
  finish(): void;
}

/**
 * How long a buffered exchange (a create) may go on after the merchant was
 * answered 504 or hung up: the backend may still create the payment, and its
 * answer carries the transaction id that must be pinned.
 */
const LATE_ANSWER_MS = 60_000;

/**
 * Stands in for the merchant's response in buffered mode, so that the
 * merchant hanging up never aborts a create the backend may already be
 * making. Emits 'close' once the exchange is over (the proxy library waits
 * for it).
 */
function detachedResponse(): ServerResponse {
  const r = new EventEmitter() as EventEmitter & Record<string, unknown>;
  Object.assign(r, { headersSent: false, finished: false, writableFinished: false, destroyed: false, destroy() {} });
  return r as unknown as ServerResponse;
}

const exchanges = new WeakMap<IncomingMessage, Exchange>();

/**
 * Headers that belong to one connection, never forwarded either way (RFC 9110
 * 7.6.1), plus Expect: Node has already answered a merchant's 100-continue,
 * and a forwarded Expect would make the backend wait for a go-ahead.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'expect']);
/**
 * End-to-end headers the gateway routed on or sets itself: a merchant cannot
 * have them dropped by naming them in Connection (the hop-by-hop abuse that
 * strips a proxy's own headers).
 */
const KEPT = new Set(['host', 'content-length', 'content-type', 'x-request-id', 'idempotency-key']);
/** Set by the proxy from the connection itself, never taken from the merchant. */
const SET_BY_GATEWAY = new Set(['x-forwarded-proto', 'x-forwarded-port', 'x-forwarded-host']);
const MAX_BUFFERED = 1 << 20;

/** Names listed in a Connection header: hop-by-hop for this message (RFC 9110 7.6.1). */
function connectionTokens(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value.join(',') : value).split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
}

const sanitized = new WeakSet<IncomingMessage>();

/**
 * Prepares the merchant's headers for the backend, once per request (a
 * retry reuses them): drops hop-by-hop headers, those named in Connection,
 * and the gateway's own X-Cutover-* (a merchant must not speak for the
 * gateway). X-Forwarded-For gets the real peer appended, so its last entry
 * is always true; the other X-Forwarded-* are the gateway's to set.
 */
function sanitizeRequestHeaders(req: IncomingMessage, keep: ReadonlySet<string>): void {
  if (sanitized.has(req)) return;
  sanitized.add(req);
  const h = req.headers;
  const named = connectionTokens(h.connection).filter((t) => !keep.has(t) && !KEPT.has(t));
  for (const name of Object.keys(h)) {
    if (HOP_BY_HOP.has(name) || name.startsWith('x-cutover-') || named.includes(name) || SET_BY_GATEWAY.has(name)) delete h[name];
  }
  const peer = req.socket.remoteAddress;
  if (peer !== undefined) h['x-forwarded-for'] = h['x-forwarded-for'] ? `${h['x-forwarded-for']}, ${peer}` : peer;
}

/** The backend's response headers a merchant may see. Node frames the answer itself. */
export function forwardableResponseHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const named = connectionTokens(headers.connection);
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.includes(name) || name.startsWith('x-cutover-')) continue;
    out[name] = value;
  }
  return out;
}

function pluginFor(buffered: boolean): Plugin {
  return function cutoverExchange(proxyServer) {
    proxyServer.on('proxyReq', (proxyReq, req) => {
      const ex = exchanges.get(req);
      if (!ex) return;
      proxyReq.setHeader('x-request-id', ex.requestId);
      proxyReq.setHeader('content-length', ex.body?.length ?? 0);
      if (ex.body && ex.body.length > 0) proxyReq.write(ex.body);
      ex.timer = setTimeout(() => {
        ex.timedOut = true;
        if (!buffered) { proxyReq.destroy(); return; }
        // A create: answer the merchant 504 now, but let the backend finish, so that a
        // payment it makes anyway still gets its transaction id pinned.
        ex.settle(null, mapUpstreamError(new Error('timeout'), ex));
        ex.lateTimer = setTimeout(() => proxyReq.destroy(), LATE_ANSWER_MS);
      }, ex.timeoutMs);
    });
    proxyServer.on('proxyRes', (proxyRes, req, res) => {
      const ex = exchanges.get(req);
      if (!ex) return;
      if (!buffered) {
        clearTimeout(ex.timer);
        // The head is written here, not by the proxy library, so that the backend's
        // Connection and Keep-Alive never decide the merchant's connection.
        res.writeHead(proxyRes.statusCode ?? 502, forwardableResponseHeaders(proxyRes.headers));
        proxyRes.pipe(res);
        ex.settle({ status: proxyRes.statusCode ?? 502 });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      proxyRes.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BUFFERED) proxyRes.destroy(new Error('create response over 1 MiB'));
        else chunks.push(c);
      });
      proxyRes.on('end', () => {
        const answer = { status: proxyRes.statusCode ?? 502, headers: proxyRes.headers, body: Buffer.concat(chunks) };
        if (ex.settled) ex.late?.(answer); else ex.settle(answer);
        ex.finish();
      });
      proxyRes.on('error', (err) => { ex.settle(null, mapUpstreamError(err, ex)); ex.finish(); });
    });
    proxyServer.on('error', (err, req) => {
      const ex = exchanges.get(req as IncomingMessage);
      if (!ex) return;
      ex.settle(null, mapUpstreamError(err, ex));
      ex.finish();
    });
  };
}

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => Promise<void>;

/** A backend's two proxies and its connection pool. */
export class BackendProxy {
  readonly name: string;
  readonly config: Readonly<BackendConfig>;
  readonly agent: http.Agent;
  readonly #streaming: Middleware;
  readonly #buffered: Middleware;
  readonly #keep: ReadonlySet<string>;

  /** `merchantHeader`: the configured merchant header, which the backend must always receive. */
  constructor(name: string, config: Readonly<BackendConfig>, merchantHeader = 'x-merchant-id') {
    this.name = name;
    this.#keep = new Set([merchantHeader.toLowerCase()]);
    this.config = config;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: config.maxSockets, timeout: config.keepAliveIdleMs, scheduling: 'lifo' });
    const common = { target: config.url, agent: this.agent, xfwd: true, changeOrigin: true, ejectPlugins: true } as const;
    this.#streaming = createProxyMiddleware({ ...common, selfHandleResponse: true, plugins: [pluginFor(false)] }) as unknown as Middleware;
    this.#buffered = createProxyMiddleware({ ...common, selfHandleResponse: true, plugins: [pluginFor(true)] }) as unknown as Middleware;
  }

  /**
   * Sends the request to the backend. Streaming: resolves once the response
   * head is on its way to the merchant. Buffered: resolves with the whole
   * answer, nothing written to `res`. Rejects with a mapped GatewayError when
   * no answer came.
   */
  send(req: IncomingMessage, res: ServerResponse, opts: SendOptions): Promise<UpstreamAnswer> {
    return new Promise((resolve, reject) => {
      let done = false;
      const target = opts.buffered ? detachedResponse() : res;
      const onClose = () => ex.settle(null, new GatewayError('client_closed_request'));
      const ex: Exchange = {
        backend: this.name, body: opts.body, requestId: opts.requestId, timeoutMs: this.config.timeoutMs, timedOut: false,
        get settled() { return done; },
        settle(answer, err) {
          if (done) return;
          done = true;
          res.off('close', onClose);
          if (!opts.buffered) { clearTimeout(ex.timer); exchanges.delete(req); }
          if (answer) resolve(answer); else reject(err);
        },
        late: opts.onLateAnswer,
        finish() {
          clearTimeout(ex.timer);
          clearTimeout(ex.lateTimer);
          if (exchanges.get(req) === ex) exchanges.delete(req);
          if (target !== res) target.emit('close');
        },
      };
      exchanges.set(req, ex);
      sanitizeRequestHeaders(req, this.#keep);
      res.once('close', onClose);
      const mw = opts.buffered ? this.#buffered : this.#streaming;
      mw(req, target, (err) => { if (err) { ex.settle(null, mapUpstreamError(err, ex)); ex.finish(); } });
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
