/**
 * Decide: the routing decision of SPEC section 4, steps 3 to 7 (pinned,
 * unpinned, merchant flag, rules, default). It only reads pins: a create's
 * decision names the claims it needs, and the claim stage (claims.ts) makes
 * them. The data plane and the admin explain both run exactly this function.
 */
import { speaks, type BackendConfig } from '../config.ts';
import { GatewayError } from '../errors.ts';
import type { Identified } from './identify.ts';
import { pinKey, type PinPort } from '../pins.ts';
import type { Pin } from '../store/types.ts';
import type { CompiledRules, RouteInput } from '../rules.ts';

/** The routing state the control plane swaps atomically: one compiled ruleset and the flags. */
export interface RoutingState {
  readonly rules: CompiledRules;
  readonly flags: ReadonlyMap<string, string>;
}

export interface UnpinnedRoute { pattern?: RegExp; backend: string }

/** Decide reads pins, never writes them. */
export type PinReader = Pick<PinPort, 'lookup'>;

export interface DecideEnv {
  state: RoutingState;
  backends: Readonly<Record<string, BackendConfig>>;
  unpinned: readonly UnpinnedRoute[];
  pins: PinReader;
  /** True when a backend's breaker is open (new transactions may fail over). */
  isOpen(backend: string): boolean;
}

/** What a request names, as far as routing cares. */
export interface Subject {
  t: Identified;
  merchant: string;
  method: string;
  orderId?: string;
  idempotencyKey?: string;
  /** With `idempotencyKey`: the request's fingerprint (claims.ts), kept with the key's pin. */
  fingerprint?: string;
  /** For log lines about this request's claims. */
  requestId?: string;
  header(name: string): string | undefined;
}

export interface Decision {
  backend: string;
  reason: string;
  rule?: string;
  bucket?: number;
  pinned: boolean;
  /** A create: the transaction id its answer names is pinned (claims.ts, pinAnswer). */
  follow?: 'transaction';
  /**
   * The claims made before it is forwarded: a create's order number pin, then its
   * idempotency key's; a v2 refund's or cancel's idempotency key (its fingerprint
   * checked like a create's).
   */
  wants?: { order?: string; key?: string };
}

/** The rules' input for a request. */
export function routeInput(s: Subject): RouteInput {
  return { apiVersion: s.t.apiVersion, merchant: s.merchant, method: s.method, path: s.t.path, orderId: s.orderId, header: s.header };
}

/**
 * The backend of a pin, unless a hand-over (issue 16) has frozen it: then 503
 * transaction_moving until the freeze ends (at most a second), since its
 * backend is about to change. The freeze comes with the pin in the same store
 * round trip.
 */
export function notMoving(pin: Pin): string {
  if (pin.movingUntil !== undefined && pin.movingUntil > Date.now()) {
    throw new GatewayError('transaction_moving', { headers: { 'retry-after': '1' } });
  }
  return pin.backend;
}

/** Where a request whose transaction is pinned to `backend` goes, or why it is refused. */
export function pinnedTo(env: DecideEnv, s: Subject, backend: string): Decision {
  if (!env.backends[backend]) {
    // The pin names a backend taken out of the configuration: the payment is there, nowhere else.
    throw new GatewayError('backend_unavailable', { message: `This transaction lives on "${backend}", which is not configured here`, headers: { 'retry-after': '60' } });
  }
  if (!speaks(env.backends, backend, s.t.apiVersion)) {
    const versions = env.backends[backend]?.apiVersions ?? [];
    throw new GatewayError('version_mismatch', {
      message: `This transaction lives on "${backend}", which speaks ${versions.join(', ')}; call it through that version`,
      details: { backend, apiVersions: versions },
    });
  }
  return { backend, reason: 'pinned', pinned: true };
}

/** Steps 5-7 and failover: where a new transaction (or an unmodelled call) goes. */
export function chooseNew(env: DecideEnv, s: Subject): Decision {
  const flagged = env.state.flags.get(s.merchant);
  if (flagged !== undefined && speaks(env.backends, flagged, s.t.apiVersion)) {
    return { backend: flagged, reason: 'merchant-flag', pinned: false };
  }
  const c = env.state.rules.choose(routeInput(s));
  if (c.failover !== undefined && env.isOpen(c.backend) && !env.isOpen(c.failover)) {
    return { backend: c.failover, reason: `failover:${c.rule}`, rule: c.rule, bucket: c.bucket, pinned: false };
  }
  return { backend: c.backend, reason: c.reason, rule: c.rule, bucket: c.bucket, pinned: false };
}

/** Step 4: a follow-up for a transaction id with no pin. `storeFailed` = the pin lookup could not answer. */
function unpinned(env: DecideEnv, s: Subject, id: string | undefined, storeFailed: unknown): Decision {
  if (id !== undefined) {
    for (const u of env.unpinned) {
      if (u.pattern?.test(id)) return withVersion(env, s, { backend: u.backend, reason: 'unpinned', pinned: false });
    }
  }
  if (storeFailed) throw storeFailed;
  // The catch-all of a version is the last entry whose backend speaks it: an id pattern
  // names the system that issued an id, but "no pin" says nothing about a version.
  const last = env.unpinned.findLast((u) => speaks(env.backends, u.backend, s.t.apiVersion)) ?? env.unpinned[env.unpinned.length - 1];
  return withVersion(env, s, { backend: last.backend, reason: 'unpinned', pinned: false });
}

function withVersion(env: DecideEnv, s: Subject, d: Decision): Decision {
  return speaks(env.backends, d.backend, s.t.apiVersion) ? d : { ...pinnedTo(env, s, d.backend), reason: d.reason, pinned: false };
}

async function lookupOrFail(env: DecideEnv, key: string): Promise<{ pin: Awaited<ReturnType<PinPort['lookup']>>; failed?: unknown }> {
  try {
    return { pin: await env.pins.lookup(key) };
  } catch (err) {
    return { pin: null, failed: err };
  }
}

/**
 * The whole decision for one request. A create goes where the rules say, and
 * names the claims it needs; the claim stage (claims.ts) makes them before it
 * is forwarded, and an order number already pinned takes it to that backend.
 */
export async function decide(env: DecideEnv, s: Subject): Promise<Decision> {
  const { t } = s;
  switch (t.endpoint) {
    case 'create': {
      const key = s.idempotencyKey === undefined ? undefined : pinKey.idempotency(s.merchant, s.idempotencyKey);
      return { ...chooseNew(env, s), follow: 'transaction', wants: { order: pinKey.order(s.merchant, s.orderId!), key } };
    }
    case 'get': case 'refund': case 'close': {
      const { pin, failed } = await lookupOrFail(env, pinKey.transaction(t.transactionId!));
      const d = pin ? pinnedTo(env, s, notMoving(pin)) : unpinned(env, s, t.transactionId, failed);
      // A v2 POST carries an Idempotency-Key: the same key back with another request is refused (SPEC 10).
      return s.idempotencyKey === undefined ? d : { ...d, wants: { key: pinKey.idempotency(s.merchant, s.idempotencyKey) } };
    }
    case 'query': {
      const { pin, failed } = await lookupOrFail(env, pinKey.order(s.merchant, s.orderId!));
      return pin ? pinnedTo(env, s, notMoving(pin)) : unpinned(env, s, undefined, failed);
    }
    case 'unmodelled':
      return chooseNew(env, s);
  }
}
