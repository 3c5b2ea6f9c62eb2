/**
 * Admin authentication: named Bearer tokens compared in constant time
 * (sha-256 digests of equal length through timingSafeEqual).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AdminToken } from '../config.ts';

export interface Principal { name: string; readOnly: boolean }

const digest = (s: string) => createHash('sha256').update(s).digest();

export function createAuthenticator(tokens: readonly AdminToken[]): (header: string | undefined) => Principal | null {
  const known = tokens.map((t) => ({ name: t.name, readOnly: t.readOnly ?? false, digest: digest(t.token) }));
  return function authenticate(header) {
    if (!header) return null;
    // The scheme name is case-insensitive (RFC 9110 section 11.1); the token is not.
    const m = /^Bearer ([\x21-\x7e]{1,512})$/i.exec(header);
    if (!m) return null;
    const given = digest(m[1]);
    let found: Principal | null = null;
    // Compare against every token, whatever matched, so timing does not tell which name exists.
    for (const t of known) if (timingSafeEqual(given, t.digest) && !found) found = { name: t.name, readOnly: t.readOnly };
    return found;
  };
}
