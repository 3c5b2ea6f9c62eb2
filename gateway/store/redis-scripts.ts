/** The Lua scripts of the Redis store; each touches one key (one Cluster slot). */

/**
 * Lua: store a new ruleset version if the current one is ARGV[1] (or ARGV[1] is empty).
 * ARGV[2] is the document without its version, a JSON object; the version is spliced in
 * as text, because a cjson round trip would turn an empty array (`rules: []`) into `{}`.
 */
export const PUT_RULES = `
local current = tonumber(redis.call('HGET', KEYS[1], 'current') or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= current then return {0, current} end
local n = current + 1
local doc = '{"version":' .. n .. ',' .. string.sub(ARGV[2], 2)
redis.call('HSET', KEYS[1], tostring(n), doc, 'current', n)
return {1, n}
`;
/** Lua: current ruleset in one round trip. */
export const GET_RULES = `
local current = redis.call('HGET', KEYS[1], 'current')
if not current then return nil end
return redis.call('HGET', KEYS[1], current)
`;
/**
 * Lua: the code of a backend name, assigned once and never changed. A new
 * name gets ARGV[3] when given and free (an instance re-registering the codes
 * it has been writing, after the store lost its data), else the lowest free code.
 */
export const BACKEND_CODE = `
local code = redis.call('HGET', KEYS[1], ARGV[1])
if code then return tonumber(code) end
local used = {}
for _, c in ipairs(redis.call('HVALS', KEYS[1])) do used[tonumber(c)] = true end
local n = tonumber(ARGV[3] or '-1')
if n < 0 or used[n] then
  n = 0
  while used[n] do n = n + 1 end
end
if n >= tonumber(ARGV[2]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], n)
return n
`;
/**
 * Lua: the pin layout (pin-layout.ts), stored whole unless one is stored,
 * then read. ARGV: windowSeconds, buckets, claims. A layout stored before
 * `claims` existed is left without it (read as 'digest').
 */
export const FIX_LAYOUT = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'windowSeconds', ARGV[1], 'buckets', ARGV[2], 'claims', ARGV[3])
end
return redis.call('HGETALL', KEYS[1])
`;
export const PUT_DOC = `
local rev = tonumber(redis.call('HGET', KEYS[1], 'rev') or '0')
if rev ~= tonumber(ARGV[1]) then return nil end
redis.call('HSET', KEYS[1], 'rev', rev + 1, 'value', ARGV[2])
return rev + 1
`;
export const LEASE = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;
export const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;
/** Lua: raise each field ARGV[2k+1] to ARGV[2k+2] where lower; ARGV[1] is the key's expiry in ms (set once). */
export const RAISE = `
for i = 2, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > cur then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
`;
