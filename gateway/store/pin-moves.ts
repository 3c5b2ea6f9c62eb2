/**
 * Moving a pin to another backend during a hand-over (issue 16), in Lua on
 * the pin's own hash (see pin-layout.ts for the layout and FIND_LIVE).
 *
 * A stored value `<n>[:<fingerprint>]` (n: a claim token above 32 bits, the
 * second in window * 64 + backend code below) becomes
 * `<n>!<untilMs>[:<fingerprint>]` while frozen: every lookup returns the
 * freeze with the pin, in the same round trip, and the data path answers 503
 * `transaction_moving` until `untilMs` (at most a second). A move only
 * happens while the freeze it names still holds, so nothing reached the old
 * backend between the job's reads and the move (see docs/handover.md).
 */
import { FIND_LIVE } from './pin-layout.ts';

/** What one freeze, move or thaw did to a pin. */
export type MoveOutcome = 'done' | 'absent' | 'elsewhere' | 'already' | 'lapsed';

/** Result codes of the script, in MoveOutcome order. */
export const MOVE_OUTCOMES: readonly MoveOutcome[] = ['done', 'absent', 'elsewhere', 'already', 'lapsed'];

/**
 * Lua (after FIND_LIVE). Own ARGV: op, fromCode, toCode, untilMs, nowMs, sliceSeconds, countKey ('' = not counted).
 * 'freeze': a live pin on `from` gets the freeze `untilMs` (replacing an older one).
 * 'move': a pin on `from` frozen with exactly `untilMs`, still before it at nowMs, goes to
 *   `to`, unfrozen, its age, claim token and fingerprint unchanged; a counted pin moves its count with it.
 * 'thaw': drops the freeze `untilMs` from a pin on `from`.
 * Returns the index of the outcome in MOVE_OUTCOMES.
 */
export const MOVE_SCRIPT = `${FIND_LIVE}
if not foundV then return 1 end
local n, rest = string.match(foundV, '^(%d+)(.*)$')
local mark, tag = string.match(rest, '^!(%d+)(.*)$')
if not mark then tag = rest end
local code = tonumber(n) % 64
local op, from, to = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
if code ~= from then
  if op == 'move' and code == to and not mark then return 3 end
  return 2
end
if op == 'freeze' then
  redis.call('HSET', foundKey, field, n .. '!' .. ARGV[9] .. tag)
  return 0
end
if mark ~= ARGV[9] then return 4 end
if op == 'thaw' then
  redis.call('HSET', foundKey, field, n .. tag)
  return 0
end
if tonumber(mark) <= tonumber(ARGV[10]) then return 4 end
-- %.0f: n may exceed 14 digits (a claim token), where Lua's number-to-string rounds
local moved = string.format('%.0f', tonumber(n) - from + to)
redis.call('HSET', foundKey, field, moved .. tag)
if ARGV[12] ~= '' then
  local slice = tonumber(ARGV[11])
  local s = math.floor((foundW * win + math.floor((tonumber(n) % 4294967296) / 64) + ttl) / slice)
  redis.call('HINCRBY', ARGV[12], from .. ':' .. s, -1)
  redis.call('HINCRBY', ARGV[12], to .. ':' .. s, 1)
end
return 0
`;
