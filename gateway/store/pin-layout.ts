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
 *
 * A create claims its order number and its idempotency key in one script
 * call (CLAIMS_SCRIPT), so on a Cluster both must live in one slot. A store
 * fixed on a Cluster therefore lays out a create's claims by merchant
 * (`claims: 'merchant'`): the hash tag is the merchant id, and within it the
 * claims spread over CLAIM_SPREAD hashes per window by their digest. Every
 * claim of one merchant then lives on one master; transaction pins stay
 * spread over every bucket. A single server or Sentinel has no slots and
 * keeps `claims: 'digest'`, as does a Cluster store fixed before this field
 * existed: there a create's two claims go as two calls when their slots
 * differ (redis.ts).
 */
import { hash } from 'node:crypto';

/**
 * Layout parameters; fixed in the store at first use so that they never change
 * under existing pins. `claims`: where a create's claims live (see above).
 */
export interface PinLayout { windowSeconds: number; buckets: number; claims: 'digest' | 'merchant' }

/** Hashes per window that one merchant's claims spread over on a `claims: 'merchant'` layout. */
export const CLAIM_SPREAD = 256;

export const MAX_BACKEND_CODES = 64;

/** Buckets per window unless the store is told otherwise (see Size above). */
export const DEFAULT_BUCKETS = 16384;

/** Window length for a TTL: the TTL spans about 15 windows, so a lookup reads about 16 hashes. */
export function defaultLayout(ttlSeconds: number, buckets = DEFAULT_BUCKETS, claims: PinLayout['claims'] = 'digest'): PinLayout {
  return { windowSeconds: Math.max(60, Math.ceil(ttlSeconds / 15)), buckets, claims };
}

/** The merchant of a create's claim (`o:<merchant>:...`, `k:<merchant>:...`, see gateway/pins.ts pinKey); undefined for other pins. */
function claimMerchant(key: string): string | undefined {
  if (!key.startsWith('o:') && !key.startsWith('k:')) return undefined;
  const end = key.indexOf(':', 2);
  return end < 0 ? undefined : key.slice(2, end);
}

/**
 * The digest field, bucket and home of a pin key: the home names its hashes
 * (windowKey), a hash tag first; pins with one home share a Cluster slot.
 */
export function pinSlot(key: string, layout: PinLayout): { field: string; bucket: number; home: string } {
  const digest = pinDigest(key);
  const bucket = parseInt(digest.substring(24, 32), 16) % layout.buckets;
  const merchant = layout.claims === 'merchant' ? claimMerchant(key) : undefined;
  // Merchant ids are [A-Za-z0-9_.-] (data/identify.ts): never a brace that would end the tag.
  const home = merchant === undefined ? `pin:{${bucket}}` : `pin:{m:${merchant}}:${bucket % CLAIM_SPREAD}`;
  return { field: Buffer.from(digest.substring(0, 24), 'hex').toString('base64url'), bucket, home };
}

let lastKey = '';
let lastDigest = '';

/**
 * The digest of a pin key: its SHA-256 in hex. The first 96 bits name the
 * pin (its field here, its slot in the instance's pin cache), the next 32 its
 * bucket. The last one is kept: a cache miss asks for the same key's digest
 * again on its way to the store. Hex, not a Buffer: a Buffer per lookup is
 * memory outside the heap, and V8 counts it towards starting major GCs.
 */
export function pinDigest(key: string): string {
  if (key !== lastKey) { lastDigest = hash('sha256', key, 'hex'); lastKey = key; }
  return lastDigest;
}

/** Key of one home's hash (see pinSlot) in one window. */
export function windowKey(prefix: string, home: string, window: number): string {
  return `${prefix}${home}:${window}`;
}

/**
 * Lua shared by the pin scripts. A script is given one key per pin: the hash
 * of the window after the current one (an instance whose clock runs ahead may
 * already have written there). The other windows' hashes share its name up
 * to the window number, and so its hash tag and slot: the script names them
 * itself, which keeps each call a few dozen bytes rather than one key per
 * live window. ARGV[2..5]: nowSec, ttlSeconds, windowSeconds, the window of
 * the keys given. `findLive(field, i)` returns the live pin of `field` in
 * the windows of KEYS[i] as its hash key, stored value and window, newest
 * window first; `windowOf(i, w)` names window `w` of KEYS[i].
 */
const LIVE = `
local now = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local win = tonumber(ARGV[4])
local first = tonumber(ARGV[5])
local oldest = math.max(0, math.floor((now - ttl) / win))
local function windowOf(i, w)
  return string.match(KEYS[i], '^(.*:)%d+$') .. string.format('%d', w)
end
local function findLive(field, i)
  local base = string.match(KEYS[i], '^(.*:)%d+$')
  for w = first, oldest, -1 do
    local key = base .. string.format('%d', w)
    local v = redis.call('HGET', key, field)
    if v then
      local pinnedAt = w * win + math.floor((tonumber(string.match(v, '^%d+')) % 4294967296) / 64)
      if pinnedAt + ttl > now then return key, v, w end
    end
  end
  return nil
end
`;

/**
 * Lua for scripts on one pin (KEYS[1]): its field is ARGV[1], and its live
 * pin `foundKey`, `foundV` (the stored value) and `foundW` (its window) (see
 * LIVE). The script's own ARGV follow ARGV[5].
 */
export const FIND_LIVE = `${LIVE}
local field = ARGV[1]
local foundKey, foundV, foundW = findLive(field, 1)
`;

/**
 * Lua: find a live pin (see FIND_LIVE); optionally create it in the current
 * window when absent. Own ARGV: [valueToSet, expireInSeconds, countKey?, countField?]:
 * a transaction's pin also adds one to its backend's count (pin-counts.ts). Returns the stored value and the window it was found in, or nil.
 */
export const PIN_SCRIPT = `${FIND_LIVE}
if foundV then return {foundV, foundW} end
if ARGV[6] then
  local key = windowOf(1, first - 1)
  redis.call('HSET', key, field, ARGV[6])
  if ARGV[9] then redis.call('HINCRBY', ARGV[8], ARGV[9], 1) end
  redis.call('EXPIRE', key, ARGV[7])
  return {ARGV[6], first - 1, 1}
end
return nil
`;

/**
 * Lua: a request's claims, all or none (Store.claimPins). KEYS: one per pin,
 * in claim order (see LIVE). ARGV: the pin count, nowSec, ttlSeconds,
 * windowSeconds, the window of the keys, nowMs, backendCode, follow ('1': the
 * first pin's live backend wins), expireInSeconds, the packed time of a new
 * pin, then per pin: field, token, fingerprint ('' for none).
 * A live pin found must not be frozen (until after nowMs), must be on the
 * backend, and must not carry another fingerprint; else nothing is written
 * and the script returns {0, value or false, window, ...} for each pin. Else
 * each pin is made (in the current window) or joined (the token and
 * fingerprint replaced, its age and any lapsed freeze kept), and the script
 * returns {1, value, window, created (1 or 0), ...}.
 */
export const CLAIMS_SCRIPT = `${LIVE}
local SHIFT = 4294967296
local nowMs = tonumber(ARGV[6])
local code = tonumber(ARGV[7])
local found = {}
local refused = false
for i = 1, #KEYS do
  local at = 8 + 3 * i
  local key, v, w = findLive(ARGV[at], i)
  found[i] = {key, v, w}
  if v then
    local vcode = tonumber(string.match(v, '^%d+')) % SHIFT % 64
    if i == 1 and ARGV[8] == '1' then code = vcode end
    local frozenUntil = tonumber(string.match(v, '^%d+!(%d+)') or '0')
    local fp = string.match(v, ':(.*)$')
    if frozenUntil > nowMs or vcode ~= code or (fp and ARGV[at + 2] ~= '' and fp ~= ARGV[at + 2]) then refused = true end
  end
end
local out = {refused and 0 or 1}
for i = 1, #KEYS do
  local at = 8 + 3 * i
  local key, v, w = found[i][1], found[i][2], found[i][3]
  if refused then
    table.insert(out, v or false)
    table.insert(out, w or 0)
  else
    local suffix = ARGV[at + 2] ~= '' and (':' .. ARGV[at + 2]) or ''
    local token = tonumber(ARGV[at + 1]) * SHIFT
    local created = 0
    if v then
      v = string.format('%.0f', tonumber(string.match(v, '^%d+')) % SHIFT + token) .. (string.match(v, '^%d+(!%d+)') or '') .. suffix
    else
      key, w, created = windowOf(i, first - 1), first - 1, 1
      v = string.format('%.0f', tonumber(ARGV[10]) + code + token) .. suffix
    end
    redis.call('HSET', key, ARGV[at], v)
    if created == 1 then redis.call('EXPIRE', key, ARGV[9]) end
    table.insert(out, v)
    table.insert(out, w)
    table.insert(out, created)
  end
end
return out
`;

/**
 * Lua: withdraws claims (Store.releasePins). KEYS: one per pin (see LIVE).
 * ARGV: the pin count, nowSec, ttlSeconds, windowSeconds, the window of the
 * keys, then per pin: field, token, fingerprint ('' for none). Deletes each
 * live pin that carries exactly that tag; returns 1 (deleted) or 0 per pin.
 */
export const RELEASE_SCRIPT = `${LIVE}
local out = {}
for i = 1, #KEYS do
  local at = 3 + 3 * i
  local key, v = findLive(ARGV[at], i)
  local deleted = 0
  if v and math.floor(tonumber(string.match(v, '^%d+')) / 4294967296) == tonumber(ARGV[at + 1]) and (string.match(v, ':(.*)$') or '') == ARGV[at + 2] then
    redis.call('HDEL', key, ARGV[at])
    deleted = 1
  end
  table.insert(out, deleted)
end
return out
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

/** The request fingerprint in a claim's tag (`<token>:<fingerprint>`); '' for none. */
export function fingerprintOf(tag: string | undefined): string {
  const colon = tag?.indexOf(':') ?? -1;
  return colon < 0 ? '' : tag!.slice(colon + 1);
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
