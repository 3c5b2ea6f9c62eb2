/**
 * A create's claims: the order-number and idempotency-key pins it makes
 * before it is forwarded (SPEC 4), and what its backend's answer does to them
 * (issue 13).
 *
 * Every claim carries a tag: a random claim token, and on an idempotency key
 * the request's fingerprint before it. A key that comes back with another
 * fingerprint is refused (422 idempotency_key_mismatch), as Stripe does.
 *
 * A definite refusal (4xx other than 409) releases the claims this request
 * made: the payment does not exist, so the next create of that order follows
 * the rules of the day. The release deletes a pin only while it carries this
 * claim's tag; a create that found the pin already there and whose answer was
 * a success puts its own tag on it (re-asserts it), so a concurrent create's
 * refusal can never release an order that a backend holds. A 5xx, a timeout
 * or a 409 keeps the claims: the payment may exist. A store failure in a
 * release keeps the pin (fail closed) and is logged.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from './log.ts';
import type { PinPort } from './pins.ts';

/** One pin a create claimed (`created`) or found, and the tag this request writes to it. */
export interface Claim { key: string; backend: string; tag: string; created: boolean }

/** Characters of a request fingerprint in a key pin's tag (48 bits, base64url). */
const FINGERPRINT_CHARS = 8;

/** A fresh claim token: 24 random bits as 4 base64url characters. */
export function claimToken(): string {
  return randomBytes(3).toString('base64url');
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

/** An idempotency key's tag: the request fingerprint, then the claim token. */
export function keyTag(fingerprint: string, token: string): string {
  return fingerprint + token;
}

/** The fingerprint in a key pin's tag; undefined for a pin without one. */
export function fingerprintOf(tag: string | undefined): string | undefined {
  return tag !== undefined && tag.length > FINGERPRINT_CHARS ? tag.slice(0, FINGERPRINT_CHARS) : undefined;
}

/** What an answer says about the payment: none was made, one was, or it may have been. */
export function outcomeOf(status: number): 'refused' | 'accepted' | 'unknown' {
  if (status >= 400 && status < 500 && status !== 409) return 'refused';
  return status >= 200 && status < 300 ? 'accepted' : 'unknown';
}

/**
 * Releases the claims this request made (`refused`: nothing was made), or
 * re-asserts those it found (`accepted`). Never throws: a failure is logged
 * and the pin left as it is.
 */
export async function settleClaims(pins: PinPort, claims: readonly Claim[] | undefined, outcome: 'refused' | 'accepted' | 'unknown', log: Logger | undefined, requestId?: string): Promise<void> {
  if (!claims || outcome === 'unknown') return;
  await Promise.all(claims.map(async (c) => {
    try {
      if (outcome === 'refused' && c.created) {
        await pins.release(c.key, c.tag);
      } else if (outcome === 'accepted' && !c.created) {
        const pin = await pins.reassert(c.key, c.backend, c.tag);
        if (pin.backend !== c.backend) log?.error({ requestId, key: c.key, backend: c.backend, pinned: pin.backend }, 'created on a backend other than the one its order is now pinned to');
      }
    } catch (err) {
      log?.error({ requestId, key: c.key, backend: c.backend, outcome, err: (err as Error).message }, 'claim left as it was: the store did not answer');
    }
  }));
}
