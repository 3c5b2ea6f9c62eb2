/**
 * Proxy: one keep-alive pool per backend, its idle timeout below the
 * backend's, and one upstream request per merchant request on Node's own
 * HTTP client. The body read by the gateway is re-sent byte for byte with
 * the request head in one write; responses stream, except a create's and a
 * query's, which are buffered so that the transaction id they name is pinned
 * before the merchant can follow it up.
 *
 * The gateway already reads the body, writes the answer and sets every header
 * itself, so it calls the HTTP client directly: an http-proxy-middleware
 * instance in this path cost about a third of the gateway's CPU per request
 * without doing anything the gateway needed (BENCHMARKS.md).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { BackendConfig } from './config.ts';
import { mapUpstreamError } from './upstream-errors.ts';
import { GatewayError } from './errors.ts';

/** What the backend answered: the status always; headers and body when buffered. */
export interface UpstreamAnswer { status: number; rawHeaders?: string[]; body?: Buffer }

export interface SendOptions {
  body?: Buffer;
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
/** Set by the gateway, never taken from the merchant. */
const SET_BY_GATEWAY = new Set(['host', 'content-length', 'x-request-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-port', 'x-forwarded-host']);
const MAX_BUFFERED = 1 << 20;
const NONE: readonly string[] = [];

/** Names listed in a Connection header: hop-by-hop for this message (RFC 9110 7.6.1). */
function connectionTokens(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value.join(',') : value).split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
}

/**
 * The merchant's headers as the backend gets them, as a flat name/value list
 * (Node writes such a list as it is, without a setHeader per header): without
 * hop-by-hop headers, those named in Connection, and the gateway's own
 * X-Cutover-* (a merchant must not speak for the gateway). X-Forwarded-For
 * gets the real peer appended, so its last entry is always true; the other
 * X-Forwarded-* are the gateway's to set. Host names the backend.
 */
function outgoingHeaders(req: IncomingMessage, keep: ReadonlySet<string>, host: string, requestId: string, bodyLength: number): string[] {
  const h = req.headers;
  const named = h.connection === undefined ? NONE : connectionTokens(h.connection).filter((t) => !keep.has(t) && !KEPT.has(t));
  const raw = req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (HOP_BY_HOP.has(name) || SET_BY_GATEWAY.has(name) || name.startsWith('x-cutover-') || named.includes(name)) continue;
    out.push(raw[i], raw[i + 1]);
  }
  out.push('host', host, 'content-length', String(bodyLength), 'x-request-id', requestId);
  const peer = req.socket.remoteAddress;
  const given = h['x-forwarded-for'] as string | undefined;
  if (peer !== undefined) out.push('x-forwarded-for', given ? `${given}, ${peer}` : peer);
  else if (given !== undefined) out.push('x-forwarded-for', given);
  const encrypted = (req.socket as TLSSocket).encrypted === true;
  out.push('x-forwarded-proto', encrypted ? 'https' : 'http');
  if (h.host !== undefined) {
    out.push('x-forwarded-host', h.host, 'x-forwarded-port', /:(\d+)$/.exec(h.host)?.[1] ?? (encrypted ? '443' : '80'));
  }
  return out;
}


/**
 * The head of the merchant's answer as a flat name/value list: the backend's
 * headers a merchant may see, then the gateway's own (`extra`: request id,
 * decision headers). Node frames the answer itself; `withoutLength` drops the
 * backend's Content-Length for an answer whose length the gateway sets.
 */
export function answerHead(rawHeaders: readonly string[], extra: readonly string[], withoutLength = false): string[] {
  let named: readonly string[] = NONE;
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (name === 'connection') named = connectionTokens(rawHeaders[i + 1]);
    if (HOP_BY_HOP.has(name) || name.startsWith('x-cutover-') || (withoutLength && name === 'content-length') || name === 'x-request-id') continue;
    out.push(rawHeaders[i], rawHeaders[i + 1]);
  }
  if (named.length > 0) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (named.includes(out[i].toLowerCase())) out.splice(i, 2);
  }
  for (const v of extra) out.push(v);
  return out;
}

/** A backend's connection pool and the one way requests go to it. */
export class BackendProxy {
  readonly name: string;
  readonly config: Readonly<BackendConfig>;
  readonly agent: http.Agent;
  readonly #keep: ReadonlySet<string>;
  readonly #request: typeof http.request;
  readonly #hostname: string;
  readonly #port: number;
  readonly #host: string;

  /** `merchantHeader`: the configured merchant header, which the backend must always receive. */
  constructor(name: string, config: Readonly<BackendConfig>, merchantHeader = 'x-merchant-id') {
    this.name = name;
    this.#keep = new Set([merchantHeader.toLowerCase()]);
    this.config = config;
    const url = new URL(config.url);
    const tls = url.protocol === 'https:';
    const poolOptions = { keepAlive: true, maxSockets: config.maxSockets, timeout: config.keepAliveIdleMs, scheduling: 'lifo' } as const;
    this.agent = tls ? new https.Agent(poolOptions) : new http.Agent(poolOptions);
    this.#request = tls ? https.request : http.request;
    this.#hostname = url.hostname.replace(/^\[|\]$/g, '');
    this.#port = Number(url.port || (tls ? 443 : 80));
    this.#host = url.host;
  }

  /**
   * Sends the request to the backend. Streaming: resolves once the response
   * head is on its way to the merchant, who then gets the body as it comes.
   * Buffered: resolves with the whole answer, nothing written to `res`; the
   * merchant hanging up or a timeout never aborts the exchange, whose late
   * answer goes to `onLateAnswer`. Rejects with a mapped GatewayError when
   * no answer came.
   */
  send(req: IncomingMessage, res: ServerResponse, opts: SendOptions): Promise<UpstreamAnswer> {
    return new Promise((resolve, reject) => {
      const body = opts.body;
      const ctx = { backend: this.name, timedOut: false, timeoutMs: this.config.timeoutMs };
      let settled = false;
      let lateTimer: NodeJS.Timeout | undefined;
      const settle = (answer: UpstreamAnswer | null, err?: GatewayError) => {
        if (settled) return;
        settled = true;
        res.off('close', onClose);
        if (answer) resolve(answer); else reject(err);
      };
      const finish = () => { clearTimeout(timer); clearTimeout(lateTimer); };
      const fail = (err: unknown) => { finish(); settle(null, mapUpstreamError(err, ctx)); };

      const upstream = this.#request({
        agent: this.agent, hostname: this.#hostname, port: this.#port, method: req.method, path: req.url,
        headers: outgoingHeaders(req, this.#keep, this.#host, opts.requestId, body?.length ?? 0),
      });
      const timer = setTimeout(() => {
        ctx.timedOut = true;
        if (!opts.buffered) { upstream.destroy(new Error('timeout')); return; }
        // A create: answer the merchant 504 now, but let the backend finish, so that a
        // payment it makes anyway still gets its transaction id pinned.
        settle(null, mapUpstreamError(new Error('timeout'), ctx));
        lateTimer = setTimeout(() => upstream.destroy(new Error('late answer window over')), LATE_ANSWER_MS);
      }, ctx.timeoutMs);
      function onClose() {
        settle(null, new GatewayError('client_closed_request'));
        if (!opts.buffered) { finish(); upstream.destroy(); }
      }
      res.once('close', onClose);
      upstream.on('error', fail);

      upstream.on('response', (answer: IncomingMessage) => {
        const status = answer.statusCode ?? 502;
        if (!opts.buffered) {
          finish();
          if (settled) { answer.destroy(); return; }
          // The head is written here, so that the backend's Connection and Keep-Alive
          // never decide the merchant's connection.
          res.writeHead(status, answerHead(answer.rawHeaders, opts.head ?? NONE));
          settle({ status });
          // A body cut short upstream cuts the merchant's connection too, and a merchant
          // who hangs up mid-body frees the upstream socket. (Not stream.pipeline: it
          // builds an AbortController and a DOMException for every answer.)
          answer.on('close', () => { if (!answer.complete && !res.destroyed) res.destroy(); });
          answer.on('error', () => res.destroy());
          res.on('close', () => { if (!res.writableFinished) answer.destroy(); });
          answer.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        answer.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BUFFERED) answer.destroy(new Error('buffered answer over 1 MiB'));
          else chunks.push(c);
        });
        answer.on('end', () => {
          finish();
          const whole = { status, rawHeaders: answer.rawHeaders, body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size) };
          if (settled) opts.onLateAnswer?.(whole); else settle(whole);
        });
        answer.on('error', fail);
        answer.on('aborted', () => fail(new Error('answer aborted')));
      });
      upstream.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
