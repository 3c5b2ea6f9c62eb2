/**
 * How pins are laid out in Redis, chosen for memory and for Redis Cluster.
 *
 * A pin is one field in a small hash, not a key of its own: a key costs about
 * 70-90 bytes, a field in a listpack-encoded hash about 20. The field is a
 * 96-bit digest of the pin key (16 base64url characters), so every field has
 * the same small size whatever the merchant's order numbers look like.
 *
 * Redis 7.0 has no per-field expiry, so hashes are cut by time window: a pin
 * goes into the hash of the window it was created in, and that hash expires
 * whole once its newest pin is past the TTL. The expiry is set relative to
 * the caller's clock (EXPIRE, not EXPIREAT), so a gateway whose clock differs
 * from the Redis server's never has a live pin's hash deleted under it. The
 * value packs the backend's code (6 bits) and the second of creation within
 * the window, one integer below 2^32. A create's claim (order number,
 * idempotency key) carries a tag (gateway/data/claims.ts): its claim token, a
 * number below 2^21, rides in the same integer above bit 32 (still exact in
 * Lua's doubles, still an integer in the hash: 4 bytes more than a bare
 * pin); a key's 8-character request fingerprint follows after a colon, which
 * makes the value a string (bench/pin-memory.ts gives the bytes each costs).
 * While a hand-over moves the pin, its freeze `!<untilMs>` sits between the
 * integer and the colon (pin-moves.ts): `<n>[!<untilMs>][:<fingerprint>]`.
 *
 * Size: a pin costs about 29 bytes of Redis memory while the hashes hold a
 * few dozen pins each (bench/pin-memory.ts). A hash past
 * `hash-max-listpack-entries` (512 by default in Redis 7) turns into a real
 * hash table at several times the cost, and a nearly empty one is mostly key
 * overhead, so the bucket count should be about the pins created per window
 * divided by 60: the default 16384 fits about a million pins per window.
 *
 * A lookup reads every window that may still hold a live pin, newest first,
 * in one Lua call. All windows of one bucket share a hash tag, so the call
 * touches one slot and works unchanged on Redis Cluster.
 */
import { hash } from 'node:crypto';

/** Layout parameters; fixed in the store at first use so that they never change under existing pins. */
export interface PinLayout { windowSeconds: number; buckets: number }

export const MAX_BACKEND_CODES = 64;

/** Buckets per window unless the store is told otherwise (see Size above). */
export const DEFAULT_BUCKETS = 16384;

/** Window length for a TTL: the TTL spans about 15 windows, so a lookup reads about 16 hashes. */
export function defaultLayout(ttlSeconds: number, buckets = DEFAULT_BUCKETS): PinLayout {
  return { windowSeconds: Math.max(60, Math.ceil(ttlSeconds / 15)), buckets };
}

/** The digest field and bucket of a pin key. */
export function pinSlot(key: string, layout: PinLayout): { field: string; bucket: number } {
  const digest = hash('sha256', key, 'buffer');
  return { field: digest.subarray(0, 12).toString('base64url'), bucket: digest.readUInt32BE(12) % layout.buckets };
}

/** Window numbers that may hold a live pin at `nowSec`, newest first. */
export function liveWindows(nowSec: number, ttlSeconds: number, layout: PinLayout): number[] {
  const newest = Math.floor(nowSec / layout.windowSeconds);
  const oldest = Math.floor((nowSec - ttlSeconds) / layout.windowSeconds);
  const out: number[] = [];
  for (let w = newest; w >= Math.max(0, oldest); w--) out.push(w);
  return out;
}

/** Key of one bucket's hash in one window; `{bucket}` is the Cluster hash tag. */
export function windowKey(prefix: string, bucket: number, window: number): string {
  return `${prefix}pin:{${bucket}}:${window}`;
}

/**
 * Lua shared by the pin scripts: the live pin of ARGV[1], newest window
 * first, as `foundKey`, `foundV` (the stored value) and `foundW` (its window).
 * KEYS: the window after the current one (an instance whose clock runs ahead
 * may already have written there), then the current window, then older ones.
 * ARGV: field, nowSec, ttlSeconds, windowSeconds, window of KEYS[1], then the
 * script's own.
 */
export const FIND_LIVE = `
local field = ARGV[1]
local now = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local win = tonumber(ARGV[4])
local first = tonumber(ARGV[5])
local foundKey, foundV, foundW
for i, key in ipairs(KEYS) do
  local v = redis.call('HGET', key, field)
  if v then
    local w = first - (i - 1)
    local pinnedAt = w * win + math.floor((tonumber(string.match(v, '^%d+')) % 4294967296) / 64)
    if pinnedAt + ttl > now then foundKey, foundV, foundW = key, v, w; break end
  end
end
`;

/**
 * Lua: find a live pin (see FIND_LIVE); optionally create it in the current
 * window when absent. Own ARGV: [valueToSet, expireInSeconds, countKey?, countField?]:
 * a transaction's pin also adds one to its backend's count (pin-counts.ts). Returns the stored value and the window it was found in, or nil.
 */
export const PIN_SCRIPT = `${FIND_LIVE}
if foundV then return {foundV, foundW} end
if ARGV[6] then
  redis.call('HSET', KEYS[2], field, ARGV[6])
  if ARGV[9] then redis.call('HINCRBY', ARGV[8], ARGV[9], 1) end
  redis.call('EXPIRE', KEYS[2], ARGV[7])
  return {ARGV[6], first - 1, 1}
end
return nil
`;

/**
 * Lua: withdraw or re-assert a create's claim (see FIND_LIVE). Own ARGV:
 * 'release', token, fingerprint ('' for none): deletes the live pin if it carries that
 * tag; returns 1 if deleted, else 0.
 * 'reassert', token, fingerprint, backendCode, valueToSet, expireInSeconds: creates the
 * pin when absent (created flag 1); on the same backend puts the tag on it, its age
 * and any hand-over freeze unchanged; a pin on another backend is left. Returns the value that holds and its window.
 */
export const CLAIM_SCRIPT = `${FIND_LIVE}
local SHIFT = 4294967296
if ARGV[6] == 'release' then
  if foundV then
    local n = tonumber(string.match(foundV, '^%d+'))
    local fp = string.match(foundV, ':(.*)$') or ''
    if math.floor(n / SHIFT) == tonumber(ARGV[7]) and fp == ARGV[8] then
      redis.call('HDEL', foundKey, field)
      return 1
    end
  end
  return 0
end
if not foundV then
  redis.call('HSET', KEYS[2], field, ARGV[10])
  redis.call('EXPIRE', KEYS[2], ARGV[11])
  return {ARGV[10], first - 1, 1}
end
local packed = tonumber(string.match(foundV, '^%d+')) % SHIFT
if packed % 64 ~= tonumber(ARGV[9]) then return {foundV, foundW} end
local v = string.format('%.0f', packed + tonumber(ARGV[7]) * SHIFT) .. (string.match(foundV, '^%d+(!%d+)') or '')
if ARGV[8] ~= '' then v = v .. ':' .. ARGV[8] end
redis.call('HSET', foundKey, field, v)
return {v, foundW}
`;

/** Seconds until the hash of `window` may go: its newest possible pin is then past the TTL (plus a minute of slack). */
export function windowExpiresIn(nowSec: number, window: number, ttlSeconds: number, layout: PinLayout): number {
  return (window + 1) * layout.windowSeconds + ttlSeconds + 60 - nowSec;
}

/** Where a claim token sits in the stored integer: above the 32 bits of backend code and time. */
const TOKEN_SHIFT = 2 ** 32;
/** Claim tokens are below this, so that a stored integer stays exact in Lua's doubles (2^53). */
export const MAX_CLAIM_TOKEN = 2 ** 21;

/** A claim's tag (`<token>` or `<token>:<fingerprint>`, gateway/data/claims.ts) as its parts. */
export function splitTag(tag: string): { token: number; fingerprint: string } {
  const colon = tag.indexOf(':');
  const token = Number(colon < 0 ? tag : tag.slice(0, colon));
  if (!Number.isInteger(token) || token < 1 || token >= MAX_CLAIM_TOKEN) throw new Error(`not a claim tag: ${tag}`);
  return { token, fingerprint: colon < 0 ? '' : tag.slice(colon + 1) };
}

/** Packs a backend code, a creation time and, for a claim, its tag into the stored value. */
export function packPin(code: number, nowSec: number, window: number, layout: PinLayout, tag?: string): string {
  const packed = (nowSec - window * layout.windowSeconds) * MAX_BACKEND_CODES + code;
  if (tag === undefined) return String(packed);
  const { token, fingerprint } = splitTag(tag);
  const n = String(packed + token * TOKEN_SHIFT);
  return fingerprint === '' ? n : `${n}:${fingerprint}`;
}

/**
 * Unpacks a stored value `<n>[!<untilMs>][:<fingerprint>]` into a backend
 * code and creation time (the low 32 bits of n), the claim's tag (its token
 * above them, with the fingerprint) and the freeze of a hand-over
 * (pin-moves.ts), if any.
 */
export function unpackPin(value: string, window: number, layout: PinLayout): { code: number; pinnedAtSec: number; tag?: string; movingUntil?: number } {
  const m = /^(\d+)(?:!(\d+))?(?::(.*))?$/s.exec(value);
  if (!m) throw new Error(`unreadable pin value ${JSON.stringify(value)}`);
  const n = Number(m[1]);
  const packed = n % TOKEN_SHIFT;
  const token = Math.floor(n / TOKEN_SHIFT);
  const out: { code: number; pinnedAtSec: number; tag?: string; movingUntil?: number } = { code: packed % MAX_BACKEND_CODES, pinnedAtSec: window * layout.windowSeconds + Math.floor(packed / MAX_BACKEND_CODES) };
  if (token !== 0) out.tag = m[3] === undefined ? String(token) : `${token}:${m[3]}`;
  if (m[2] !== undefined) out.movingUntil = Number(m[2]);
  return out;
}
