/**
 * The data path, stage by stage. This file is the only one that says the
 * order: receive → identify → validate → decide (pin) → proxy → record.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Config } from './config.ts';
import { checkJsonMediaType, parseJson, readRaw } from './body.ts';
import { decide, type Decision, type DecideEnv, type Subject } from './decide.ts';
import { GatewayError, errorBody } from './errors.ts';
import { headerValue, singleHeader } from './headers.ts';
import { identify, queryOrderId, type Identified } from './identify.ts';
import { check } from './schemas.ts';
import { statusClass, type Metrics } from './metrics.ts';
import { logRequest, type Logger } from './log.ts';
import type { GuardedBackend } from './breakers.ts';
import { pinTransaction, writeBuffered } from './respond.ts';
import { outcomeOf, requestFingerprint, settleClaims } from './claims.ts';
import type { PinService } from './pins.ts';
import type { LiveRouting } from './control/live.ts';

export interface DataPlaneDeps {
  config: Readonly<Config>;
  live: LiveRouting;
  pins: PinService;
  backends: ReadonlyMap<string, GuardedBackend>;
  unpinned: DecideEnv['unpinned'];
  metrics: Metrics;
  log: Logger;
  /** Called for each new transaction a rule placed (effective split view). */
  onNewTransaction?(decision: Decision, subject: Subject): void;
  /** Called for every answered request that was routed to a backend (canary gates, drain counts). */
  onAnswered?(backend: string, status: number, seconds: number, endpoint?: Identified['endpoint'], pinned?: boolean): void;
}

const MERCHANT_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Stage "validate": the body and query of a modelled endpoint; returns the order number it names. */
async function validate(req: IncomingMessage, t: Identified, limit: number): Promise<{ body: Buffer; orderId?: string }> {
  const body = await readRaw(req, limit);
  if (t.endpoint === 'unmodelled') return { body };
  if (req.method === 'GET') {
    if (body.length > 0) throw new GatewayError('bad_request', { message: 'GET takes no body' });
    return { body, orderId: t.endpoint === 'query' ? queryOrderId(t) : undefined };
  }
  if (body.length > 0 || t.endpoint === 'create' || t.endpoint === 'refund') checkJsonMediaType(req);
  const json = parseJson(body, t.endpoint === 'close');
  const problems = check(t.bodySchema!, json);
  if (problems.length > 0) throw new GatewayError('invalid_request', { details: problems });
  const orderId = t.endpoint === 'create' ? (json as Record<string, string>)[t.orderField] : undefined;
  return { body, orderId };
}

/** What one request has gathered on its way through the stages. */
interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly started: number;
  readonly requestId: string;
  /** The gateway's own answer headers, a flat name/value list: the request id, then the decision headers. */
  readonly head: string[];
  t?: Identified;
  merchant?: string;
  decision?: Decision;
}

/** Builds the merchant-request handler. */
export function createDataPlane(deps: DataPlaneDeps) {
  const { config, live, pins, backends, metrics, log } = deps;
  const env: DecideEnv = {
    get state() { return live.state; },
    backends: config.backends, unpinned: deps.unpinned, pins, log,
    isOpen: (name) => backends.get(name)?.isOpen ?? false,
  };

  /** Stage "receive": a request id (the caller's when well-formed), and recording once the answer is out. */
  function receive(req: IncomingMessage, res: ServerResponse): Exchange {
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    // The gateway's headers are written with the answer head in one list, not with
    // setHeader: Node then writes the head as it is, without a header map per answer.
    const ex: Exchange = { req, res, started: performance.now(), requestId, head: ['x-request-id', requestId] };
    // 'close' follows every answer, finished or not: one listener records both.
    res.once('close', () => record(ex, res.writableFinished ? res.statusCode : 499));
    return ex;
  }

  /** Stage "identify": version, endpoint and transaction from the path; merchant and idempotency key from headers. */
  function identifyRequest(ex: Exchange): { t: Identified; merchant: string; idempotencyKey?: string } {
    const { req } = ex;
    const t = ex.t = identify(req.method ?? 'GET', req.url ?? '/');
    const merchant = ex.merchant = singleHeader(req, config.merchantHeader, MERCHANT_ID);
    if (merchant === undefined) throw new GatewayError('missing_merchant', { message: `The ${config.merchantHeader} header is required` });
    const idempotencyKey = singleHeader(req, 'idempotency-key', IDEMPOTENCY_KEY);
    if (t.apiVersion === 'v2' && req.method === 'POST' && idempotencyKey === undefined) throw new GatewayError('missing_idempotency_key');
    return { t, merchant, idempotencyKey };
  }

  /**
   * Stage "proxy": forward to the chosen backend; creates and queries come back buffered, their
   * id pinned first, and a create's claims released (a definite refusal) or re-asserted (a success).
   */
  async function proxy(ex: Exchange, decision: Decision, body: Buffer): Promise<void> {
    const { req, res, requestId } = ex;
    const t = ex.t!;
    const backend = backends.get(decision.backend)!;
    const upstreamStart = performance.now();
    const pinsId = decision.follow === 'transaction';
    const buffered = pinsId || t.endpoint === 'query';
    let answer;
    try {
      answer = await backend.send(req, res, {
        body, requestId, buffered, retryable: req.method === 'GET', head: ex.head,
        // A create answered too late for the merchant (timeout, hang-up) still gets its id pinned,
        // and a success re-asserts its claims; a late refusal releases nothing (the merchant was told 504).
        onLateAnswer: pinsId ? (late) => {
          void pinTransaction(pins, t, late, decision.backend, log, requestId);
          if (outcomeOf(late.status) === 'accepted') void settleClaims(pins, decision.claims, 'accepted', log, requestId);
        } : undefined,
      });
    } catch (err) {
      // Refused before it was sent (open breaker, no free connection): the backend made nothing.
      if (err instanceof GatewayError && (err.code === 'backend_unavailable' || err.code === 'backend_busy')) {
        await settleClaims(pins, decision.claims, 'refused', log, requestId);
      }
      throw err;
    }
    metrics.upstreamDuration.observe({ backend: decision.backend, status_class: statusClass(answer.status) }, (performance.now() - upstreamStart) / 1000);
    if (buffered) {
      await Promise.all([
        pinTransaction(pins, t, answer, decision.backend, log, requestId),
        settleClaims(pins, decision.claims, outcomeOf(answer.status), log, requestId),
      ]);
      writeBuffered(res, answer, ex.head);
    }
  }

  /** Stage "record": metrics, the canary's and the split view's counts, one log line. */
  function record(ex: Exchange, status: number): void {
    const { t, decision } = ex;
    const seconds = (performance.now() - ex.started) / 1000;
    const backend = decision?.backend ?? 'none';
    const apiVersion = t?.apiVersion ?? 'none';
    metrics.requests.inc({ backend, api_version: apiVersion, reason: decision?.reason ?? 'refused', status_class: statusClass(status) });
    metrics.requestDuration.observe({ api_version: apiVersion, backend }, seconds);
    if (decision) deps.onAnswered?.(decision.backend, status, seconds, t?.endpoint, decision.pinned);
    logRequest(log, {
      requestId: ex.requestId, merchant: ex.merchant, method: ex.req.method, path: t?.path, apiVersion: t?.apiVersion, endpoint: t?.endpoint,
      backend: decision?.backend, reason: decision?.reason, status, durationMs: Math.round(seconds * 10000) / 10,
    });
  }

  return async function handleMerchantRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ex = receive(req, res);
    try {
      const { t, merchant, idempotencyKey } = identifyRequest(ex);
      const { body, orderId } = await validate(req, t, config.limits.bodyBytes);
      const keyed = t.endpoint === 'create' && t.apiVersion === 'v2' ? idempotencyKey : undefined;
      const subject: Subject = {
        t, merchant, method: req.method!, orderId, requestId: ex.requestId,
        idempotencyKey: keyed,
        // Over the bytes that are forwarded, so that the key's pin remembers what the backend saw.
        fingerprint: keyed === undefined ? undefined : requestFingerprint(req.method!, req.url!, merchant, body),
        header: (name) => headerValue(req, name),
      };
      // decide (a create is pinned here, before it is forwarded), on one snapshot of the
      // routing state, whose version is the one reported
      const state = live.state;
      const decision = ex.decision = await decide({ ...env, state }, subject);
      if (decision.follow === 'transaction' && !decision.pinned) deps.onNewTransaction?.(decision, subject);
      if (config.decisionHeaders) {
        ex.head.push('x-cutover-backend', decision.backend, 'x-cutover-reason', decision.reason, 'x-cutover-rules-version', String(state.rules.version));
      }
      await proxy(ex, decision, body);
    } catch (err) {
      sendError(res, err, ex.requestId, log, ex.head);
    }
  };
}

/**
 * Answers a coded JSON error, or cuts the connection when the answer had already begun.
 * `head`: the gateway's own headers (flat name/value list) for the answer.
 */
export function sendError(res: ServerResponse, err: unknown, requestId: string | undefined, log: Logger, head: readonly string[] = []): void {
  const gwErr = err instanceof GatewayError ? err : new GatewayError('internal_error', { cause: err });
  if (gwErr.code === 'internal_error') log.error({ err, requestId }, 'unexpected error');
  else if (gwErr.status >= 500) log.warn({ code: gwErr.code, cause: (gwErr.cause as Error | undefined)?.message, requestId }, 'refused');
  if (res.headersSent || res.destroyed) { res.destroy(); return; }
  const body = JSON.stringify(errorBody(gwErr, requestId));
  res.statusCode = gwErr.status;
  for (let i = 0; i < head.length; i += 2) res.setHeader(head[i], head[i + 1]);
  for (const [k, v] of Object.entries(gwErr.headers ?? {})) res.setHeader(k, v);
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}
