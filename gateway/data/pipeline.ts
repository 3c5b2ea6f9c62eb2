/**
 * The data path, stage by stage. This file is the only one that says the
 * order: receive → identify → validate → decide → claim → proxy → pin answer → record.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config.ts';
import { checkJsonMediaType, parseJson, readRaw } from './body.ts';
import { decide, type Decision, type DecideEnv, type Subject } from './decide.ts';
import { GatewayError, requestIdOf, sendError } from '../errors.ts';
import { headerValue, refuseUnderscoredRouted, singleHeader } from './headers.ts';
import { forwardedTarget, identify, MERCHANT_ID, queryOrderId, refuseQuery, type Identified } from './identify.ts';
import { check } from '../schemas.ts';
import { statusClass, type Metrics } from '../metrics.ts';
import { logRequest, type Logger } from '../log.ts';
import type { GuardedBackend } from './breakers.ts';
import { writeBuffered, type UpstreamAnswer } from './proxy.ts';
import { claim, outcomeOf, pinAnswer, pinLateAnswer, requestFingerprint, settleClaims, type Claim } from './claims.ts';
import type { PinService } from '../pins.ts';
import type { CompiledRules } from '../rules.ts';

export interface DataPlaneDeps {
  config: Readonly<Config>;
  /** What decide reads: the live routing state (one snapshot per request), backends, pins. */
  env: DecideEnv;
  /** The pins the claim and pin-answer stages write. */
  pins: PinService;
  backends: ReadonlyMap<string, GuardedBackend>;
  metrics: Metrics;
  log: Logger;
  /** Called for each new transaction a rule placed (effective split view), with the rules that decided it. */
  onNewTransaction?(decision: Decision, subject: Subject, rules: CompiledRules): void;
  /** Called for every answered request that was routed to a backend (canary gates, traffic, drain counts). */
  onAnswered?(backend: string, status: number, seconds: number, endpoint?: Identified['endpoint'], pinned?: boolean): void;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

const ANY_VALUE = /^[\s\S]*$/;

/**
 * Stage "validate": the body and query of a modelled endpoint; returns the
 * body and the request target to forward, and the order number they name.
 *
 * The body forwarded for a modelled POST is the validated value serialised
 * again (JSON.stringify), not the merchant's bytes. The strict reading
 * already refuses what parsers disagree on (duplicate keys with different
 * values, BOM, numbers that round), but the bytes can still carry spellings
 * that are equal in meaning only by the gateway's reading: escapes ("\u0031"),
 * an identical duplicate key, whitespace, a lone-surrogate escape that another
 * parser replaces or rejects. Re-serialising leaves the backend nothing to
 * read but the value that was validated; its cost is one JSON.stringify of a
 * body of a few hundred bytes. Every number in a validated body is a safe
 * integer (body.ts), so it is written back exactly as it was read.
 */
async function validate(req: IncomingMessage, t: Identified, limit: number): Promise<{ body: Buffer; target: string; orderId?: string }> {
  // One Content-Type on every request: of two, the gateway would check one and a backend might read the other.
  singleHeader(req, 'content-type', ANY_VALUE);
  const body = await readRaw(req, limit);
  if (t.endpoint === 'unmodelled') return { body, target: forwardedTarget(t, req.url!) };
  // The gateway decodes no content coding, so a coded body would be validated as one thing and read as another.
  if (req.headers['content-encoding'] !== undefined) {
    throw new GatewayError('unsupported_content_encoding', { message: 'Content-Encoding is not accepted on this endpoint' });
  }
  // A query is read by the backend as well: only the query endpoint takes one, rebuilt from what was validated.
  if (t.endpoint !== 'query') refuseQuery(t);
  const queryOrder = t.endpoint === 'query' ? queryOrderId(t) : undefined;
  if (req.method === 'GET') {
    if (body.length > 0) throw new GatewayError('bad_request', { message: 'GET takes no body' });
    return { body, target: forwardedTarget(t, req.url!, queryOrder), orderId: queryOrder };
  }
  if (body.length > 0 || t.endpoint === 'create' || t.endpoint === 'refund') checkJsonMediaType(req);
  const json = parseJson(body, t.endpoint === 'close');
  const problems = check(t.bodySchema!, json);
  if (problems.length > 0) throw new GatewayError('invalid_request', { details: problems });
  const orderId = t.endpoint === 'create' ? (json as Record<string, string>)[t.orderField] : undefined;
  return { body: body.length === 0 ? body : Buffer.from(JSON.stringify(json)), target: forwardedTarget(t, req.url!), orderId };
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
  const { config, env, pins, backends, metrics, log } = deps;
  const unmodelledMethods: ReadonlySet<string> = new Set(config.unmodelled.methods);
  const routedHeaders = [config.merchantHeader.toLowerCase(), 'idempotency-key'];

  /** Stage "receive": a request id (the caller's when well-formed), and recording once the answer is out. */
  function receive(req: IncomingMessage, res: ServerResponse): Exchange {
    const requestId = requestIdOf(req.headers);
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
    const t = ex.t = identify(req.method ?? 'GET', req.url ?? '/', unmodelledMethods);
    refuseUnderscoredRouted(req, routedHeaders);
    const merchant = ex.merchant = singleHeader(req, config.merchantHeader, MERCHANT_ID);
    if (merchant === undefined) throw new GatewayError('missing_merchant', { message: `The ${config.merchantHeader} header is required` });
    const idempotencyKey = singleHeader(req, 'idempotency-key', IDEMPOTENCY_KEY);
    if (t.apiVersion === 'v2' && req.method === 'POST' && idempotencyKey === undefined) throw new GatewayError('missing_idempotency_key');
    return { t, merchant, idempotencyKey };
  }

  /**
   * Stage "proxy": forward to the chosen backend. Creates and queries come back buffered, so
   * that stage "pin answer" runs before the merchant sees the answer; a create answered too
   * late for the merchant is pinned all the same.
   */
  async function proxy(ex: Exchange, decision: Decision, claims: readonly Claim[], body: Buffer, target: string, buffered: boolean): Promise<UpstreamAnswer> {
    const { req, res, requestId } = ex;
    const t = ex.t!;
    const backend = backends.get(decision.backend)!;
    const upstreamStart = performance.now();
    let answer: UpstreamAnswer;
    try {
      answer = await backend.send(req, res, {
        body, target, requestId, buffered, retryable: req.method === 'GET', head: ex.head,
        onLateAnswer: decision.follow === 'transaction' ? (late) => pinLateAnswer(pins, t, late, decision.backend, claims, log, requestId) : undefined,
      });
    } catch (err) {
      // Refused before it was sent (open breaker, no free connection): the backend made nothing.
      if (err instanceof GatewayError && (err.code === 'backend_unavailable' || err.code === 'backend_busy')) {
        await settleClaims(pins, claims, 'refused', log, requestId);
      }
      throw err;
    }
    metrics.upstreamDuration.observe({ backend: decision.backend, status_class: statusClass(answer.status) }, (performance.now() - upstreamStart) / 1000);
    return answer;
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
      const { body, target, orderId } = await validate(req, t, config.limits.bodyBytes);
      // A v2 POST to a modelled endpoint (create, refund, cancel) claims its Idempotency-Key.
      const keyed = t.apiVersion === 'v2' && req.method === 'POST' && t.endpoint !== 'unmodelled' ? idempotencyKey : undefined;
      const subject: Subject = {
        t, merchant, method: req.method!, orderId, requestId: ex.requestId,
        idempotencyKey: keyed,
        // Over the bytes that are forwarded, so that the key's pin remembers what the backend saw.
        fingerprint: keyed === undefined ? undefined : requestFingerprint(req.method!, target, merchant, body),
        header: (name) => headerValue(req, name),
      };
      // decide, on one snapshot of the routing state, whose version is the one reported
      const snapshot: DecideEnv = { ...env, state: env.state };
      const decided = await decide(snapshot, subject);
      // claim: the pins the decision wants (a create's order and key, a v2 refund's or cancel's key)
      // are made before it is forwarded; an order already pinned redirects a create
      const { decision, claims } = await claim(pins, snapshot, subject, decided, log);
      ex.decision = decision;
      if (decision.follow === 'transaction' && !decision.pinned) deps.onNewTransaction?.(decision, subject, snapshot.state.rules);
      if (config.decisionHeaders) {
        ex.head.push('x-cutover-backend', decision.backend, 'x-cutover-reason', decision.reason, 'x-cutover-rules-version', String(snapshot.state.rules.version));
      }
      const buffered = decision.follow === 'transaction' || t.endpoint === 'query';
      const answer = await proxy(ex, decision, claims, body, target, buffered);
      if (buffered) {
        // pin answer: the transaction id is pinned before the merchant can follow it up
        await pinAnswer(pins, t, answer, decision.backend, claims, log, ex.requestId);
        writeBuffered(res, answer, ex.head);
      } else if (claims.length > 0) {
        // A streamed answer (a refund's, a cancel's) is on its way: its status settles the key's claim.
        await settleClaims(pins, claims, outcomeOf(answer.status), log, ex.requestId);
      }
    } catch (err) {
      sendError(res, err, ex.requestId, log, ex.head);
    }
  };
}
