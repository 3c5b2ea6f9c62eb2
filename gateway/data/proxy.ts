/**
 * Proxy: one keep-alive connection pool per backend (undici), its idle
 * timeout below the backend's, and one upstream exchange per merchant
 * request. The body the pipeline hands over is sent as given (for a modelled
 * POST, the validated value re-serialised; otherwise the bytes read); answers
 * stream, except a create's and a query's, which are buffered so that the
 * transaction id they name is pinned before the merchant can follow it up.
 *
 * The gateway reads the body, sets every header and writes every answer
 * itself, so it talks to the pool's dispatcher directly: no proxy library,
 * and no ClientRequest/IncomingMessage pair per request (BENCHMARKS.md: each
 * cost a large share of the gateway's CPU per request).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { Pool, type Dispatcher } from 'undici';
import type { BackendConfig } from '../config.ts';
import { mapUpstreamError } from './upstream-errors.ts';
import { GatewayError } from '../errors.ts';
import { parseHost } from './headers.ts';

/** What the backend answered: the status always; headers and body when buffered. */
export interface UpstreamAnswer {
  status: number;
  headers?: IncomingHttpHeaders;
  body?: Buffer;
  /**
   * Streamed answers: settles when the body is over. Rejects with a GatewayError when the
   * backend broke or stalled mid-body (a backend fault); resolves when the body ended or the
   * merchant left or stopped reading (not the backend's doing).
   */
  streamEnd?: Promise<void>;
}

export interface SendOptions {
  body?: Buffer;
  /** The request target the backend receives (the validated path and query, identify.ts forwardedTarget). */
  target: string;
  requestId: string;
  /** Buffer the whole answer (creates and queries, whose transaction id is pinned) instead of streaming it. */
  buffered: boolean;
  /** Buffered mode: the backend's answer, when it came after the merchant was answered or gone. */
  onLateAnswer?(answer: UpstreamAnswer): void;
  /** Streaming mode: the gateway's own answer headers (flat name/value list), written with the backend's. */
  head?: readonly string[];
}

/**
 * How long a buffered exchange (a create) may go on after the merchant was
 * answered 504 or hung up: the backend may still create the payment, and its
 * answer carries the transaction id that must be pinned.
 */
const LATE_ANSWER_MS = 60_000;

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
/**
 * Set by the gateway, never taken from the merchant. The client's `Forwarded`
 * (RFC 7239) and `X-Real-IP` are dropped, not rewritten: the gateway speaks
 * one vocabulary, X-Forwarded-*, so a backend that reads either of the others
 * never sees a merchant's claim about its own address, and the peer is always
 * the last X-Forwarded-For entry. Every other client `X-Forwarded-*` (Prefix,
 * Uri, Scheme, Ssl, Server...) is dropped too (`x-forwarded-` prefix below):
 * frameworks build redirect targets, the scheme and the path from them.
 */
const SET_BY_GATEWAY = new Set(['host', 'content-length', 'x-request-id', 'forwarded', 'x-real-ip', 'via']);
/**
 * Client headers that backends read as the client's address or as another
 * method or path than the one the gateway identified and validated (method
 * overrides, IIS/Symfony URL rewrites): never forwarded.
 */
const NOT_FORWARDED = new Set([
  'x-client-ip', 'true-client-ip', 'x-cluster-client-ip', 'cf-connecting-ip',
  'x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-method', 'x-original-url', 'x-rewrite-url',
]);
/**
 * RFC 9110 7.6.3: an HTTP-to-HTTP gateway MUST send Via in each request it
 * forwards; the merchant's Via entries are kept before it. Answers get none
 * (a MAY there), so merchants learn nothing of the path inside.
 */
const VIA = '1.1 cutover';
const MAX_BUFFERED = 1 << 20;
const NONE: readonly string[] = [];

/** Names listed in a Connection header: hop-by-hop for this message (RFC 9110 7.6.1). */
function connectionTokens(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value.join(',') : value).split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
}

/**
 * The merchant's headers as the backend gets them, as a flat name/value
 * list: without hop-by-hop headers, those named in Connection, the gateway's
 * own X-Cutover-* (a merchant must not speak for the gateway) and the
 * merchant's framing (the pool sets Content-Length from the body it sends),
 * the address, method and URL claims of NOT_FORWARDED, and any name with "_".
 * X-Forwarded-For gets the real peer appended, so its last entry is always
 * true; the other X-Forwarded-* are the gateway's to set; Via gets the
 * gateway's entry. Host names the backend.
 */
function outgoingHeaders(req: IncomingMessage, keep: ReadonlySet<string>, host: string, requestId: string): string[] {
  const h = req.headers;
  const named = h.connection === undefined ? NONE : connectionTokens(h.connection).filter((t) => !keep.has(t) && !KEPT.has(t));
  const raw = req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    // An "_" in a name: CGI/WSGI servers read "X_Forwarded_For" as X-Forwarded-For. The routed
    // ones are refused before this (headers.ts underscoredRoutedHeader); the rest go where nginx
    // sends them by default (underscores_in_headers off): nowhere.
    if (HOP_BY_HOP.has(name) || SET_BY_GATEWAY.has(name) || NOT_FORWARDED.has(name) || name.startsWith('x-forwarded-')
      || name.startsWith('x-cutover-') || name.includes('_') || named.includes(name)) continue;
    out.push(raw[i], raw[i + 1]);
  }
  const via = h.via;
  out.push('host', host, 'x-request-id', requestId, 'via', via === undefined || via === '' ? VIA : `${via}, ${VIA}`);
  const peer = req.socket.remoteAddress;
  const given = h['x-forwarded-for'] as string | undefined;
  if (peer !== undefined) out.push('x-forwarded-for', given ? `${given}, ${peer}` : peer);
  else if (given !== undefined) out.push('x-forwarded-for', given);
  const encrypted = (req.socket as TLSSocket).encrypted === true;
  out.push('x-forwarded-proto', encrypted ? 'https' : 'http');
  // Only from a Host that parses (the server has refused every other one, RFC 9112 3.2).
  const validHost = h.host === undefined ? undefined : parseHost(h.host);
  if (validHost !== undefined) {
    out.push('x-forwarded-host', h.host!, 'x-forwarded-port', validHost.port ?? (encrypted ? '443' : '80'));
  }
  return out;
}

/**
 * The head of the merchant's answer as a flat name/value list: the backend's
 * headers a merchant may see, then the gateway's own (`extra`: request id,
 * decision headers). Node frames the answer itself; `withoutLength` drops the
 * backend's Content-Length for an answer whose length the gateway sets.
 */
export function answerHead(headers: IncomingHttpHeaders, extra: readonly string[], withoutLength = false): string[] {
  const named = headers.connection === undefined ? NONE : connectionTokens(headers.connection);
  const out: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || name.startsWith('x-cutover-') || name === 'x-request-id'
      || (withoutLength && name === 'content-length') || named.includes(name)) continue;
    if (typeof value === 'string') out.push(name, value);
    else for (const v of value) out.push(name, v);
  }
  for (const v of extra) out.push(v);
  return out;
}

/** A backend's connection pool and the one way requests go to it. */
export class BackendProxy {
  readonly name: string;
  readonly config: Readonly<BackendConfig>;
  readonly #pool: Pool;
  readonly #keep: ReadonlySet<string>;
  readonly #host: string;
  readonly #responseIdleMs: number;

  /**
   * `merchantHeader`: the configured merchant header, which the backend must always receive.
   * `responseIdleMs`: how long a streamed answer may wait on a merchant who reads nothing.
   */
  constructor(name: string, config: Readonly<BackendConfig>, merchantHeader = 'x-merchant-id', responseIdleMs = 30_000) {
    this.name = name;
    this.#responseIdleMs = responseIdleMs;
    this.#keep = new Set([merchantHeader.toLowerCase()]);
    this.config = config;
    const url = new URL(config.url);
    this.#host = url.host;
    this.#pool = new Pool(url.origin, {
      connections: config.maxSockets,
      keepAliveTimeout: config.keepAliveIdleMs,
      keepAliveMaxTimeout: config.keepAliveIdleMs,
      // The gateway's own timer answers 504 (and lets a create run on): the pool's
      // head and body timers must not race it.
      headersTimeout: 0,
      bodyTimeout: 0,
      // A connection still not made when the gateway's timer has answered 504 is given up soon after.
      connect: { timeout: config.timeoutMs + 1000 },
    });
  }

  /** Connections open to the backend, busy or idle. */
  get connections(): number {
    return this.#pool.stats.connected;
  }

  /** Every connection the pool may open is open and none is free: a new request waits in the queue. */
  get #full(): boolean {
    const stats = this.#pool.stats;
    return stats.connected >= this.config.maxSockets && stats.free === 0;
  }

  /**
   * Sends the request to the backend. Streaming: resolves once the response
   * head is on its way to the merchant, who then gets the body as it comes.
   * Buffered: resolves with the whole answer, nothing written to `res`; the
   * merchant hanging up or a timeout never aborts the exchange, whose late
   * answer goes to `onLateAnswer`. Rejects with a mapped GatewayError when
   * no answer came; with `backend_busy` when the request waited
   * `queueTimeoutMs` for a connection of a full pool and was never sent.
   */
  send(req: IncomingMessage, res: ServerResponse, opts: SendOptions): Promise<UpstreamAnswer> {
    return new Promise((resolve, reject) => {
      const buffered = opts.buffered;
      const responseIdleMs = this.#responseIdleMs;
      const ctx = { backend: this.name, timedOut: false, timeoutMs: this.config.timeoutMs };
      /** The merchant's outcome is decided (an answer, a forwarded head, or an error). */
      let settled = false;
      /** The exchange with the backend is over, whatever its outcome. */
      let over = false;
      /** The pool's handle on the exchange, once it is on a connection. */
      let controller: Dispatcher.DispatchController | undefined;
      /** Why the exchange must stop, when that was decided before it reached a connection. */
      let stopped: Error | undefined;
      let lateTimer: NodeJS.Timeout | undefined;
      /** Runs while a streamed answer waits for a merchant who reads nothing. */
      let idleTimer: NodeJS.Timeout | undefined;
      /** Runs while a streamed answer waits for the backend's next chunk, unless the gateway paused it. */
      let upstreamTimer: NodeJS.Timeout | undefined;
      /** Settles `streamEnd`: with the backend's fault, or without one. */
      let endStream: (fault?: GatewayError) => void = () => {};
      const stop = (why: Error) => { if (controller) controller.abort(why); else stopped ??= why; };
      const settle = (answer: UpstreamAnswer | null, err?: GatewayError) => {
        if (settled) return;
        settled = true;
        res.off('close', onClose);
        if (answer) resolve(answer); else reject(err);
      };
      const finish = () => {
        over = true;
        clearTimeout(timer); clearTimeout(lateTimer); clearTimeout(queueTimer); clearTimeout(idleTimer); clearTimeout(upstreamTimer);
      };
      const fail = (err: unknown) => { finish(); settle(null, mapUpstreamError(err, ctx)); };
      /**
       * Still queued for a connection of a full pool: the backend has not seen the
       * request, so it is given up (never sent) and answered 503, which is not a
       * backend fault. A pool still opening connections is the backend's to answer
       * for: that wait runs on to the timeout.
       */
      const giveUpIfQueued = (): boolean => {
        if (controller || !this.#full) return false;
        finish();
        settle(null, new GatewayError('backend_busy', {
          message: `Every connection to backend "${this.name}" is busy`, headers: { 'retry-after': '1' },
        }));
        stop(new Error('no free connection'));
        return true;
      };
      const queueTimer = setTimeout(giveUpIfQueued, this.config.queueTimeoutMs);

      const timer = setTimeout(() => {
        if (giveUpIfQueued()) return;
        ctx.timedOut = true;
        settle(null, mapUpstreamError(new Error('timeout'), ctx));
        if (!buffered) { finish(); stop(new Error('timeout')); return; }
        // A create: the merchant has its 504, but the backend may finish and make the
        // payment anyway; its answer still gets the transaction id pinned.
        lateTimer = setTimeout(() => stop(new Error('late answer window over')), LATE_ANSWER_MS);
      }, ctx.timeoutMs);
      function onClose() {
        settle(null, new GatewayError('client_closed_request'));
        if (!buffered) { finish(); stop(new Error('the merchant hung up')); }
      }
      res.once('close', onClose);

      /**
       * A streamed answer whose backend sends nothing for `timeoutMs` (its head sent, its
       * body stalled) would hold the merchant and a pool connection for ever: the merchant's
       * connection is cut, so that the answer never looks whole, the pool connection is
       * dropped, and the stall counts as a backend fault. Re-armed on every chunk; not
       * running while the gateway itself holds the backend back for a slow merchant.
       */
      const awaitBackend = (c: Dispatcher.DispatchController) => {
        clearTimeout(upstreamTimer);
        if (over) return;
        upstreamTimer = setTimeout(() => {
          finish();
          endStream(new GatewayError('backend_timeout', { message: `Backend "${this.name}" sent nothing for ${ctx.timeoutMs} ms mid-answer` }));
          c.abort(new Error('the backend stalled mid-answer'));
          res.destroy();
        }, ctx.timeoutMs);
      };

      const chunks: Buffer[] = [];
      let size = 0;
      let status = 502;
      let headers: IncomingHttpHeaders = {};
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(c) {
          controller = c;
          if (stopped) c.abort(stopped);
        },
        onResponseStart(c, statusCode, answerHeaders) {
          status = statusCode;
          headers = answerHeaders as IncomingHttpHeaders;
          if (buffered) return;
          clearTimeout(timer);
          if (settled || res.destroyed) { c.abort(new Error('the merchant is gone')); return; }
          // The head is written here, so that the backend's Connection and Keep-Alive
          // never decide the merchant's connection.
          res.writeHead(status, answerHead(headers, opts.head ?? NONE));
          const streamEnd = new Promise<void>((ok, ko) => { endStream = (fault) => (fault ? ko(fault) : ok()); });
          streamEnd.catch(() => {});
          settle({ status, streamEnd });
          // Backpressure: a slow merchant pauses the backend's connection; one who reads
          // nothing for responseIdleMs is cut off, so that the connection goes back to the
          // pool (issue 13). A merchant who hangs up mid-answer frees it at once.
          res.on('drain', () => { clearTimeout(idleTimer); idleTimer = undefined; c.resume(); awaitBackend(c); });
          res.once('close', () => {
            if (over || res.writableFinished) return;
            endStream();
            c.abort(new Error('the merchant hung up'));
          });
          awaitBackend(c);
        },
        onResponseData(c, chunk) {
          if (!buffered) {
            if (res.destroyed) { endStream(); c.abort(new Error('the merchant is gone')); return; }
            if (res.write(chunk)) { awaitBackend(c); return; }
            // Paused by the gateway: the backend's silence is then not the backend's doing.
            c.pause();
            clearTimeout(upstreamTimer);
            idleTimer ??= setTimeout(() => {
              finish();
              endStream();
              c.abort(new Error(`the merchant read nothing for ${responseIdleMs} ms`));
              res.destroy();
            }, responseIdleMs);
            return;
          }
          size += chunk.length;
          if (size > MAX_BUFFERED) c.abort(new Error('buffered answer over 1 MiB'));
          else chunks.push(chunk);
        },
        onResponseEnd() {
          finish();
          if (!buffered) { endStream(); res.end(); return; }
          const whole = { status, headers, body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size) };
          if (settled) opts.onLateAnswer?.(whole); else settle(whole);
        },
        onResponseError(_c, err) {
          // A streamed answer already begun: cut the merchant's connection, so that a
          // truncated answer never looks whole.
          if (!buffered && settled && !over) {
            finish();
            endStream(mapUpstreamError(err, ctx));
            res.destroy();
            return;
          }
          fail(err);
        },
      };
      try {
        this.#pool.dispatch({
          method: req.method as Dispatcher.HttpMethod, path: opts.target,
          headers: outgoingHeaders(req, this.#keep, this.#host, opts.requestId),
          body: opts.body && opts.body.length > 0 ? opts.body : null,
        }, handler);
      } catch (err) {
        fail(err);
      }
    });
  }

  close(): void {
    void this.#pool.destroy().catch(() => {});
  }
}

/** Writes a buffered backend answer to the merchant, with the gateway's own headers (`head`). */
export function writeBuffered(res: ServerResponse, answer: UpstreamAnswer, head: readonly string[]): void {
  const headers = answerHead(answer.headers ?? {}, head, true);
  headers.push('content-length', String(answer.body?.length ?? 0));
  res.writeHead(answer.status, headers);
  res.end(answer.body);
}
