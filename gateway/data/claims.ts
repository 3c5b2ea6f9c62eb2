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
 * A definite refusal (4xx other than 409) releases the claims this request
 * made: the payment does not exist, so the next create of that order follows
 * the rules of the day. The release deletes a pin only while it carries this
 * claim's tag. A create that finds the pin already there joins it before it
 * is forwarded: it puts its own tag on the pin (re-asserts it), so the claim
 * it joined can no longer be released while the joiner may still make the
 * payment, and a joiner never releases what it joined. Two refused creates of
 * one order may so leave it pinned (fail safe); a created payment never loses
 * its order pin. A 5xx, a timeout or a 409 keeps the claims: the payment may
 * exist. A store failure in a release keeps the pin (fail closed) and is logged.
 */
import { createHash, randomInt } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import { MAX_CLAIM_TOKEN } from '../store/pin-layout.ts';
import type { Logger } from '../log.ts';
import { pinKey, type PinPort, type PinService } from '../pins.ts';
import type { Pin, PinResult } from '../store/types.ts';
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

/** The fingerprint in a key pin's tag; undefined for a pin without one. */
export function fingerprintOf(tag: string | undefined): string | undefined {
  const colon = tag?.indexOf(':') ?? -1;
  return colon < 0 ? undefined : tag!.slice(colon + 1);
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
  if (!claims) return;
  await Promise.all(claims.map(async (c) => {
    try {
      if (outcome === 'refused') {
        if (c.created) await pins.release(c.key, c.tag);
      } else if (c.created || outcome === 'accepted') {
        pins.confirm(c.key, c.pin);
      }
    } catch (err) {
      log?.error({ requestId, key: c.key, backend: c.backend, outcome, err: (err as Error).message }, 'claim left as it was: the store did not answer');
    }
  }));
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
function keyRefusal(s: Subject, backend: string, keyBackend: string, kept: string | undefined): GatewayError | undefined {
  if (kept !== undefined && s.fingerprint !== undefined && kept !== s.fingerprint) return new GatewayError('idempotency_key_mismatch');
  if (keyBackend !== backend) return new GatewayError('idempotency_key_reused', { details: { orderBackend: backend, keyBackend } });
  return undefined;
}

/**
 * Stage "claim": makes the pins a decision wants (set-if-absent: two racing
 * creates for one order meet on its key), order number first. Returns the decision
 * as the pins found stand, and the claims its answer will release or re-assert.
 */
export async function claim(pins: PinPort, env: DecideEnv, s: Subject, d: Decision, log: Logger | undefined): Promise<{ decision: Decision; claims: Claim[] }> {
  if (!d.wants) return { decision: d, claims: [] };
  let decision = d;
  const claims: Claim[] = [];
  if (d.wants.order !== undefined) {
    const orderTag = claimToken();
    const byOrder = await claimOrJoin(pins, d.wants.order, d.backend, orderTag);
    if (!byOrder.created) decision = followOrderPin(env, s, d, notMoving(byOrder));
    claims.push({ key: d.wants.order, backend: decision.backend, tag: orderTag, created: byOrder.created, pin: byOrder });
  }
  if (d.wants.key !== undefined) {
    // The key is claimed with this request's fingerprint, in the same store call.
    const tag = s.fingerprint === undefined ? claimToken() : keyTag(s.fingerprint, claimToken());
    const found = await pins.claim(d.wants.key, decision.backend, { tag });
    const refusal = keyRefusal(s, decision.backend, found.backend, found.created ? undefined : fingerprintOf(found.tag));
    // A key that may go ahead (the same request again) joins the claim it found.
    const byKey = found.created || refusal ? found : await pins.reassert(d.wants.key, notMoving(found), tag);
    claims.push({ key: d.wants.key, backend: decision.backend, tag, created: byKey.created, pin: byKey });
    if (refusal) {
      // Nothing is forwarded: the pins this request just made name a backend that holds nothing.
      await settleClaims(pins, claims, 'refused', log, s.requestId);
      throw refusal;
    }
  }
  return { decision, claims };
}

/**
 * Makes the pin of `key` with `tag`, or joins the claim that holds it: puts
 * `tag` on it (same backend) so that the request that made it can no longer
 * release it while this one may still make the payment. A pin released in
 * between is made again (`created`); one on another backend is returned as it is.
 */
async function claimOrJoin(pins: PinPort, key: string, backend: string, tag: string): Promise<PinResult> {
  const found = await pins.claim(key, backend, { tag });
  // A claim being handed over is not joined: the create is answered 503 transaction_moving.
  return found.created ? found : pins.reassert(key, notMoving(found), tag);
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
 * pinned, and a success re-asserts its claims; a late refusal releases nothing (the
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
