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
import type { Logger } from './log.ts';
import type { GuardedBackend } from './breakers.ts';
import { pinTransaction, writeBuffered } from './respond.ts';
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
  /** Called for every answered request that was routed to a backend (canary gates). */
  onAnswered?(backend: string, status: number, seconds: number): void;
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

/** Builds the merchant-request handler. */
export function createDataPlane(deps: DataPlaneDeps) {
  const { config, live, pins, backends, metrics, log } = deps;
  const env: DecideEnv = {
    get state() { return live.state; },
    backends: config.backends, unpinned: deps.unpinned, pins,
    isOpen: (name) => backends.get(name)?.isOpen ?? false,
  };

  return async function handleMerchantRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    // receive
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', requestId);
    let t: Identified | undefined;
    let merchant: string | undefined;
    let decision: Decision | undefined;
    res.once('finish', () => record(res.statusCode));
    res.once('close', () => { if (!res.writableFinished) record(499); });
    let recorded = false;
    function record(status: number): void {
      if (recorded) return;
      recorded = true;
      const seconds = (performance.now() - started) / 1000;
      const backend = decision?.backend ?? 'none';
      const apiVersion = t?.apiVersion ?? 'none';
      metrics.requests.inc({ backend, api_version: apiVersion, reason: decision?.reason ?? 'refused', status_class: statusClass(status) });
      metrics.requestDuration.observe({ api_version: apiVersion, backend }, seconds);
      if (decision) deps.onAnswered?.(decision.backend, status, seconds);
      log.info({ requestId, merchant, method: req.method, path: t?.path, apiVersion: t?.apiVersion, endpoint: t?.endpoint,
        backend: decision?.backend, reason: decision?.reason, status, durationMs: Math.round(seconds * 10000) / 10 }, 'request');
    }

    try {
      // identify
      t = identify(req.method ?? 'GET', req.url ?? '/');
      merchant = singleHeader(req, config.merchantHeader, MERCHANT_ID);
      if (merchant === undefined) throw new GatewayError('missing_merchant', { message: `The ${config.merchantHeader} header is required` });
      const idempotencyKey = singleHeader(req, 'idempotency-key', IDEMPOTENCY_KEY);
      if (t.apiVersion === 'v2' && req.method === 'POST' && idempotencyKey === undefined) throw new GatewayError('missing_idempotency_key');
      // validate
      const { body, orderId } = await validate(req, t, config.limits.bodyBytes);
      // decide (a create is pinned here, before it is forwarded)
      const subject: Subject = {
        t, merchant, method: req.method!, orderId,
        idempotencyKey: t.endpoint === 'create' && t.apiVersion === 'v2' ? idempotencyKey : undefined,
        header: (name) => headerValue(req, name),
      };
      // One snapshot of the routing state decides, and its version is the one reported.
      const state = live.state;
      decision = await decide({ ...env, state }, subject);
      if (decision.follow === 'transaction' && !decision.pinned) deps.onNewTransaction?.(decision, subject);
      if (config.decisionHeaders) {
        res.setHeader('x-cutover-backend', decision.backend);
        res.setHeader('x-cutover-reason', decision.reason);
        res.setHeader('x-cutover-rules-version', String(state.rules.version));
      }
      // proxy
      const backend = backends.get(decision.backend)!;
      const upstreamStart = performance.now();
      // Creates and queries by order number are buffered: the transaction id in their
      // answer is pinned before the merchant can use it. A create answered too late for
      // the merchant (timeout, hang-up) still gets its id pinned when the answer comes.
      const chosen = decision.backend;
      const identified = t;
      const buffered = decision.follow === 'transaction' || t.endpoint === 'query';
      const answer = await backend.send(req, res, {
        body, requestId, buffered, retryable: req.method === 'GET',
        onLateAnswer: decision.follow === 'transaction'
          ? (late) => void pinTransaction(pins, identified, late, chosen, log, requestId)
          : undefined,
      });
      metrics.upstreamDuration.observe({ backend: decision.backend, status_class: statusClass(answer.status) }, (performance.now() - upstreamStart) / 1000);
      if (buffered) {
        await pinTransaction(pins, t, answer, decision.backend, log, requestId);
        writeBuffered(res, answer);
      }
    } catch (err) {
      sendError(res, err, requestId, log);
    }
  };
}

/** Answers a coded JSON error, or cuts the connection when the answer had already begun. */
export function sendError(res: ServerResponse, err: unknown, requestId: string | undefined, log: Logger): void {
  const gwErr = err instanceof GatewayError ? err : new GatewayError('internal_error', { cause: err });
  if (gwErr.code === 'internal_error') log.error({ err, requestId }, 'unexpected error');
  else if (gwErr.status >= 500) log.warn({ code: gwErr.code, cause: (gwErr.cause as Error | undefined)?.message, requestId }, 'refused');
  if (res.headersSent || res.destroyed) { res.destroy(); return; }
  const body = JSON.stringify(errorBody(gwErr, requestId));
  res.statusCode = gwErr.status;
  for (const [k, v] of Object.entries(gwErr.headers ?? {})) res.setHeader(k, v);
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}
