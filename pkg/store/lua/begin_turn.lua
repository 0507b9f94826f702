-- begin_turn.lua (Store.BeginTurn, turn.go): take (or renew) the session's lease for holder
-- and return the next turn: the oldest unanswered message (turn done + 1) and the newest
-- history. Everything pending is answered by the lease holder, whichever request brought it
-- there. The lease is the hash's 'lease' (the holder) and 'until' (Unix ms, by the callers'
-- clocks): a lease whose time is up may be taken by another attempt.
-- Returns {'gone'} (no session) | {'done', done} (nothing pending; holder's lease, if any, is
-- released) | {'busy', ms the lease has left} (another holder) |
-- {'turn', seq, message JSON or '', restart 0|1, stop 0|1, {history JSON...}, user or '',
-- prompt estimate, quota 0|1}: user is the session's owner (auth.mode jwt); the estimate is the
-- message's and the history's tokens, about four bytes a token of their stored JSON; quota 1:
-- the session's day of tokens (auth.mode none: usage_* fields, usage.lua) is at or over
-- tokens_limit + its grant, so the turn is answered with the quota error.
--
-- KEYS[1..4] and ARGV[1..4]: the session's, named in prelude.lua. Its own ARGV:
local holder = ARGV[5]           -- the worker attempt asking
local lease_ms = tonumber(ARGV[6]) -- how long the lease lasts unless renewed, ms
local hist_n = tonumber(ARGV[7]) -- history messages to return (the newest)
local day = ARGV[8]              -- the UTC day, YYYY-MM-DD
local tokens_limit = tonumber(ARGV[9]) -- limits.tokens_per_day_per_user, 0 for none

local h = redis.call('HMGET', H, 'name', 'seq', 'done', 'started', 'stop', 'lease', 'until', 'base', 'user',
  'usage_day', 'usage_prompt', 'usage_completion', 'usage_grant')
if not h[1] then return {'gone'} end
local seq = num(h[2])
local done = num(h[3])
local lease = h[6] or ''
-- A session QUEUED (its request put back) is free to whoever begins first; with nothing left to
-- answer, the mark goes, so that the next message queues a request.
local queued = lease == QUEUED
if queued then lease = '' end
if done >= seq then
  if lease == holder or queued then redis.call('HSET', H, 'lease', '') end
  return {'done', done}
end
if lease ~= '' and lease ~= holder and num(h[7]) > NOW then return {'busy', num(h[7]) - NOW} end
-- Read before writing: a script is not rolled back, so a key Redis refuses to read (wrong
-- type) must fail the script before it takes the lease, or the lease would block every retry.
local n = done + 1
local msg = redis.call('LINDEX', PEND, n - 1 - pend_base(h[8], done)) or ''
local hist = {}
if hist_n > 0 then hist = redis.call('LRANGE', MSGS, -hist_n, -1) end
redis.call('HSET', H, 'lease', holder, 'until', int(NOW + lease_ms), 'started', n)
local restart = 0
if num(h[4]) == n then restart = 1 end
local stop = 0
if num(h[5]) == n then stop = 1 end
local bytes = #msg
for i = 1, #hist do bytes = bytes + #hist[i] end
local quota = 0
if tokens_limit > 0 and not h[9] and h[10] == day and
    num(h[11]) + num(h[12]) >= tokens_limit + num(h[13]) then
  quota = 1
end
return {'turn', n, msg, restart, stop, hist, h[9] or '', math.ceil(bytes / 4), quota}
