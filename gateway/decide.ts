/**
 * Decide: the routing decision of SPEC section 4, steps 3 to 7 (pinned,
 * unpinned, merchant flag, rules, default). The data plane and the admin
 * explain call both run exactly this function; explain passes a read-only
 * pin port.
 */
import type { ApiVersion, BackendConfig } from './config.ts';
import { GatewayError } from './errors.ts';
import { claimToken, fingerprintOf, keyTag, settleClaims, type Claim } from './claims.ts';
import type { Logger } from './log.ts';
import type { Identified } from './identify.ts';
import { pinKey, type PinPort } from './pins.ts';
import type { Pin } from './store/types.ts';
import type { CompiledRules, RouteInput } from './rules.ts';

/** The routing state the control plane swaps atomically: one compiled ruleset and the flags. */
export interface RoutingState {
  readonly rules: CompiledRules;
  readonly flags: ReadonlyMap<string, string>;
}

export interface UnpinnedRoute { pattern?: RegExp; backend: string }

export interface DecideEnv {
  state: RoutingState;
  backends: Readonly<Record<string, BackendConfig>>;
  unpinned: readonly UnpinnedRoute[];
  pins: PinPort;
  /** True when a backend's breaker is open (new transactions may fail over). */
  isOpen(backend: string): boolean;
  /** Where a claim that could not be released is reported. */
  log?: Logger;
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
  /** Pin keys this request pinned (creates), for the response-side pin of the transaction id. */
  follow?: 'transaction';
  /** A create's claims, which its backend's answer releases or re-asserts (claims.ts). */
  claims?: Claim[];
}

function speaks(env: DecideEnv, backend: string, v: ApiVersion): boolean {
  return env.backends[backend]?.apiVersions.includes(v) ?? false;
}

/**
 * A pin frozen by a hand-over (issue 16) answers 503 transaction_moving until
 * the freeze ends (at most a second): its backend is about to change, and the
 * freeze came with the pin in the same store round trip.
 */
function notMoving(pin: Pin): string {
  if (pin.movingUntil !== undefined && pin.movingUntil > Date.now()) {
    throw new GatewayError('transaction_moving', { headers: { 'retry-after': '1' } });
  }
  return pin.backend;
}

function pinnedTo(env: DecideEnv, s: Subject, backend: string): Decision {
  if (!env.backends[backend]) {
    // The pin names a backend taken out of the configuration: the payment is there, nowhere else.
    throw new GatewayError('backend_unavailable', { message: `This transaction lives on "${backend}", which is not configured here`, headers: { 'retry-after': '60' } });
  }
  if (!speaks(env, backend, s.t.apiVersion)) {
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
  if (flagged !== undefined && speaks(env, flagged, s.t.apiVersion)) {
    return { backend: flagged, reason: 'merchant-flag', pinned: false };
  }
  const input: RouteInput = {
    apiVersion: s.t.apiVersion, merchant: s.merchant, method: s.method, path: s.t.path,
    orderId: s.orderId, header: s.header,
  };
  const c = env.state.rules.choose(input);
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
  const last = env.unpinned.findLast((u) => speaks(env, u.backend, s.t.apiVersion)) ?? env.unpinned[env.unpinned.length - 1];
  return withVersion(env, s, { backend: last.backend, reason: 'unpinned', pinned: false });
}

function withVersion(env: DecideEnv, s: Subject, d: Decision): Decision {
  return speaks(env, d.backend, s.t.apiVersion) ? d : { ...pinnedTo(env, s, d.backend), reason: d.reason, pinned: false };
}

async function lookupOrFail(env: DecideEnv, key: string): Promise<{ pin: Awaited<ReturnType<PinPort['lookup']>>; failed?: unknown }> {
  try {
    return { pin: await env.pins.lookup(key) };
  } catch (err) {
    return { pin: null, failed: err };
  }
}

/** The whole decision for one request. Creates are pinned here (set-if-absent) before they are forwarded. */
export async function decide(env: DecideEnv, s: Subject): Promise<Decision> {
  const { t } = s;
  switch (t.endpoint) {
    case 'create': {
      const fresh = chooseNew(env, s);
      // Order number first: two racing creates for one order meet on this key.
      const orderKey = pinKey.order(s.merchant, s.orderId!);
      const orderTag = claimToken();
      const byOrder = await env.pins.claim(orderKey, fresh.backend, { tag: orderTag });
      const decision: Decision = byOrder.created ? fresh : pinnedTo(env, s, notMoving(byOrder));
      const claims: Claim[] = [{ key: orderKey, backend: decision.backend, tag: orderTag, created: byOrder.created }];
      if (s.idempotencyKey !== undefined) {
        // The key is claimed with this request's fingerprint, in the same store call.
        const key = pinKey.idempotency(s.merchant, s.idempotencyKey);
        const tag = keyTag(s.fingerprint ?? '', claimToken());
        const byKey = await env.pins.claim(key, decision.backend, { tag });
        claims.push({ key, backend: decision.backend, tag, created: byKey.created });
        const kept = byKey.created ? undefined : fingerprintOf(byKey.tag);
        // A key that comes back with another request (merchant, method, path or body) is
        // refused, not forwarded: the backend would answer with the first payment or make a
        // second one. A pin written without a fingerprint cannot be compared.
        const mismatch = kept !== undefined && kept !== s.fingerprint;
        // A retry repeats order and key, so both pins agree. They differ only when a key
        // already used for another order on another backend comes with this order: that
        // backend's idempotency check cannot see this one, so refuse rather than risk a
        // second payment.
        if (mismatch || byKey.backend !== decision.backend) {
          // Nothing is forwarded: the pins this request just made name a backend that holds nothing.
          await settleClaims(env.pins, claims, 'refused', env.log, s.requestId);
          if (mismatch) throw new GatewayError('idempotency_key_mismatch');
          throw new GatewayError('idempotency_key_reused', { details: { orderBackend: decision.backend, keyBackend: byKey.backend } });
        }
      }
      return { ...decision, follow: 'transaction', claims };
    }
    case 'get': case 'refund': case 'close': {
      const { pin, failed } = await lookupOrFail(env, pinKey.transaction(t.transactionId!));
      return pin ? pinnedTo(env, s, notMoving(pin)) : unpinned(env, s, t.transactionId, failed);
    }
    case 'query': {
      const { pin, failed } = await lookupOrFail(env, pinKey.order(s.merchant, s.orderId!));
      return pin ? pinnedTo(env, s, notMoving(pin)) : unpinned(env, s, undefined, failed);
    }
    case 'unmodelled':
      return chooseNew(env, s);
  }
}
