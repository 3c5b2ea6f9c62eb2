/**
 * Pinning, the one module that writes pins. Stage "claim": a create's
 * order-number and idempotency-key pins, made before it is forwarded (SPEC 4).
 * Stage "pin answer": what its backend's answer does to them (issue 13), and
 * the transaction id the answer names, pinned before the merchant can follow
 * it up (retried in the background when the store cannot take it), also for
 * an answer that comes after the merchant was told 504.
 *
 * Every claim carries a tag: a random claim token, and on an idempotency key
 * the request's fingerprint before it. A key that comes back with another
 * fingerprint is refused (422 idempotency_key_mismatch), as Stripe does.
 *
 * A request's claims (order number, then idempotency key) are made in one
 * store call, all or none (Store.claimPins): the order's pin, when it exists,
 * names the backend, and a key on another backend, with another fingerprint,
 * or a pin frozen by a hand-over refuses the create with nothing written.
 *
 * A definite refusal (4xx other than 409) releases the claims this request
 * made, in one call: the payment does not exist, so the next create of that order follows
 * the rules of the day. The release deletes a pin only while it carries this
 * claim's tag. A create that finds the pin already there joins it before it
 * is forwarded: it puts its own tag on the pin, so the claim
 * it joined can no longer be released while the joiner may still make the
 * payment, and a joiner never releases what it joined. Two refused creates of
 * one order may so leave it pinned (fail safe); a created payment never loses
 * its order pin. A 5xx, a timeout or a 409 keeps the claims: the payment may
 * exist. A store failure in a release keeps the pin (fail closed) and is logged.
 */
import { createHash, randomInt } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import { fingerprintOf, MAX_CLAIM_TOKEN } from '../store/pin-layout.ts';
import type { Logger } from '../log.ts';
import { pinKey, type PinPort, type PinService } from '../pins.ts';
import type { ClaimWant, Pin } from '../store/types.ts';
import { notMoving, pinnedTo, type Decision, type DecideEnv, type PinReader, type Subject } from './decide.ts';
import type { Identified } from './identify.ts';
import type { UpstreamAnswer } from './proxy.ts';

/** One pin a create claimed (`created`) or found (`pin`: as it stood), and the tag this request writes to it. */
export interface Claim { key: string; backend: string; tag: string; created: boolean; pin: Pin }

/**
 * A fresh claim token: a random number from 1 to 2^21 - 1, which the Redis
 * store keeps inside the pin's integer (pin-layout.ts). Two claims of one
 * key race only within one create's round trip, so a clash (one in two
 * million) is not worth more bytes in every pin.
 */
export function claimToken(): string {
  return String(randomInt(1, MAX_CLAIM_TOKEN));
}

/**
 * The fingerprint of a request that may reuse an idempotency key: a digest of
 * its method, path, merchant and the body bytes the gateway forwards, each
 * length-prefixed so that no two requests share an input. 48 bits: a changed
 * request passes for the same one about once in 2^48 reuses.
 */
export function requestFingerprint(method: string, path: string, merchant: string, body: Buffer): string {
  const h = createHash('sha256');
  for (const part of [Buffer.from(method), Buffer.from(path), Buffer.from(merchant), body]) {
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(part.length);
    h.update(len).update(part);
  }
  return h.digest().subarray(0, 6).toString('base64url');
}

/** An idempotency key's tag: the claim token, then the request fingerprint. */
export function keyTag(fingerprint: string, token: string): string {
  return `${token}:${fingerprint}`;
}

/** What an answer says about the payment: none was made, one was, or it may have been. */
export function outcomeOf(status: number): 'refused' | 'accepted' | 'unknown' {
  if (status >= 400 && status < 500 && status !== 409) return 'refused';
  return status >= 200 && status < 300 ? 'accepted' : 'unknown';
}

/**
 * Releases the claims this request made (`refused`: nothing was made); a claim
 * this request made and did not release is final, and so is one it joined
 * once its create succeeded. Never throws: a failure is logged and the pin
 * left as it is.
 */
export async function settleClaims(pins: PinPort, claims: readonly Claim[] | undefined, outcome: 'refused' | 'accepted' | 'unknown', log: Logger | undefined, requestId?: string): Promise<void> {
  if (!claims?.length) return;
  if (outcome !== 'refused') {
    for (const c of claims) if (c.created || outcome === 'accepted') pins.confirm(c.key, c.pin);
    return;
  }
  const made = claims.filter((c) => c.created);
  try {
    await pins.releaseAll(made);
  } catch (err) {
    log?.error({ requestId, keys: made.map((c) => c.key), backend: made[0]?.backend, outcome, err: (err as Error).message }, 'claims left as they were: the store did not answer');
  }
}

/** A create whose order number is already pinned (to `backend`) goes there, as a follow-up would. */
function followOrderPin(env: DecideEnv, s: Subject, d: Decision, backend: string): Decision {
  return { ...pinnedTo(env, s, backend), follow: d.follow, wants: d.wants };
}

/**
 * Why a create may not go ahead with the idempotency-key pin it found (`keyBackend`,
 * `kept`: the fingerprint on it), if it may not. A key that comes back with another
 * request (merchant, method, path or body) is refused, not forwarded: the backend
 * would answer with the first payment or make a second one. A pin written without a
 * fingerprint cannot be compared, nor can a subject without one (explain). A retry
 * repeats order and key, so both pins agree; they differ only when a key already used
 * for another order on another backend comes with this order: that backend's
 * idempotency check cannot see this one, so refuse rather than risk a second payment.
 */
function keyRefusal(s: Subject, backend: string, keyBackend: string, kept: string): GatewayError | undefined {
  if (kept !== '' && s.fingerprint !== undefined && kept !== s.fingerprint) return new GatewayError('idempotency_key_mismatch');
  if (keyBackend !== backend) return new GatewayError('idempotency_key_reused', { details: { orderBackend: backend, keyBackend } });
  return undefined;
}

/**
 * Stage "claim": makes the pins a decision wants (set-if-absent: two racing
 * creates for one order meet on its key), or joins them, in one store call.
 * Returns the decision as the pins found stand, and the claims its answer will
 * release or confirm.
 */
export async function claim(pins: PinPort, env: DecideEnv, s: Subject, d: Decision, log: Logger | undefined): Promise<{ decision: Decision; claims: Claim[] }> {
  if (!d.wants) return { decision: d, claims: [] };
  const wants: ClaimWant[] = [];
  const byOrder = d.wants.order !== undefined;
  if (byOrder) wants.push({ key: d.wants.order!, tag: claimToken() });
  // The key is claimed with this request's fingerprint, so that a reuse with another request is seen.
  if (d.wants.key !== undefined) wants.push({ key: d.wants.key, tag: s.fingerprint === undefined ? claimToken() : keyTag(s.fingerprint, claimToken()) });
  // A create goes where its order number is pinned, if it is: the store follows that pin.
  const r = await pins.claimAll(wants, d.backend, byOrder);
  if (!r.claimed) throw refusalOf(s, d.backend, r.pins, byOrder);
  const order = byOrder ? r.pins[0] : undefined;
  const claims = r.pins.map((pin, i): Claim => ({ key: wants[i].key, backend: pin.backend, tag: wants[i].tag, created: pin.created, pin }));
  if (!order || order.created) return { decision: d, claims };
  try {
    return { decision: followOrderPin(env, s, d, order.backend), claims };
  } catch (err) {
    // The order lives where this request may not go: nothing is forwarded, so what it made goes.
    await settleClaims(pins, claims, 'refused', log, s.requestId);
    throw err;
  }
}

/** Why the store wrote none of a request's claims, from the live pins it found (in claim order). */
function refusalOf(s: Subject, backend: string, found: readonly (Pin | null)[], byOrder: boolean): GatewayError {
  for (const pin of found) if (pin) notMoving(pin);
  const orderBackend = (byOrder ? found[0]?.backend : undefined) ?? backend;
  const key = byOrder ? found[1] : found[0];
  const refusal = key && keyRefusal(s, orderBackend, key.backend, fingerprintOf(key.tag));
  // Otherwise a freeze the store saw ended just now: as for a pin being moved, try again.
  return refusal || new GatewayError('transaction_moving', { headers: { 'retry-after': '1' } });
}

/** The claim stage read-only, for explain: the decision the claims would leave, writing nothing. */
export async function previewClaims(pins: PinReader, env: DecideEnv, s: Subject, d: Decision): Promise<Decision> {
  if (!d.wants) return d;
  const order = d.wants.order === undefined ? null : await pins.lookup(d.wants.order);
  const decision = order ? followOrderPin(env, s, d, notMoving(order)) : d;
  if (d.wants.key !== undefined) {
    const key = await pins.lookup(d.wants.key);
    const refusal = key && keyRefusal(s, decision.backend, key.backend, fingerprintOf(key.tag));
    if (refusal) throw refusal;
  }
  return decision;
}

/**
 * Stage "pin answer", for a buffered answer (a create's, a query's by order number):
 * pins the transaction id it names and settles the create's claims.
 */
export async function pinAnswer(pins: PinService, t: Identified, answer: UpstreamAnswer, backend: string, claims: readonly Claim[], log: Logger, requestId: string): Promise<void> {
  await Promise.all([
    pinTransaction(pins, t, answer, backend, log, requestId),
    settleClaims(pins, claims, outcomeOf(answer.status), log, requestId),
  ]);
}

/**
 * A create answered too late for the merchant (timeout, hang-up) still gets its id
 * pinned, and a success confirms its claims; a late refusal releases nothing (the
 * merchant was told 504).
 */
export function pinLateAnswer(pins: PinService, t: Identified, late: UpstreamAnswer, backend: string, claims: readonly Claim[], log: Logger, requestId: string): void {
  void pinTransaction(pins, t, late, backend, log, requestId);
  if (outcomeOf(late.status) === 'accepted') void settleClaims(pins, claims, 'accepted', log, requestId);
}

/** Pins the transaction id a successful create returned (v1 `trade_no`, v2 `id`). */
async function pinTransaction(pins: PinService, t: Identified, answer: UpstreamAnswer, backend: string, log: Logger, requestId: string): Promise<void> {
  if (answer.status < 200 || answer.status >= 300 || !answer.body) return;
  let id: unknown;
  try {
    const json = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
    id = t.apiVersion === 'v1' ? json.trade_no : json.id;
  } catch {
    return;
  }
  if (typeof id !== 'string' || id.length === 0 || id.length > 64) return;
  try {
    const pin = await pins.claim(pinKey.transaction(id), backend);
    if (pin.backend !== backend) log.error({ requestId, transactionId: id, backend, pinned: pin.backend }, 'transaction id already pinned to another backend');
  } catch (err) {
    // The payment exists on `backend`; the merchant must get its answer. This instance
    // remembers the pin; others fail closed (503) until the retries below store it.
    pins.remember(pinKey.transaction(id), backend);
    log.error({ requestId, transactionId: id, backend, err: (err as Error).message }, 'could not pin transaction id; retrying');
    void retryPin(pins, id, backend, log, requestId);
  }
}

/** Retries a transaction pin with backoff (about two minutes in all), then gives up loudly. */
async function retryPin(pins: PinService, id: string, backend: string, log: Logger, requestId: string, attempt = 1): Promise<void> {
  await new Promise((r) => setTimeout(r, Math.min(30_000, 250 * 2 ** attempt)).unref());
  try {
    const pin = await pins.claim(pinKey.transaction(id), backend, { store: true });
    if (pin.backend !== backend) log.error({ requestId, transactionId: id, backend, pinned: pin.backend }, 'transaction id already pinned to another backend');
    else log.info({ requestId, transactionId: id, backend, attempt }, 'transaction id pinned after retry');
  } catch (err) {
    if (attempt < 10) return retryPin(pins, id, backend, log, requestId, attempt + 1);
    log.error({ requestId, transactionId: id, backend, err: (err as Error).message }, 'transaction id could not be pinned; follow-ups by this id will be refused or routed by its shape');
  }
}
