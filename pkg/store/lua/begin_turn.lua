-- begin_turn.lua (Store.BeginTurn, turn.go): take (or renew) the session's lease for holder
-- and return the next turn: the oldest pending message (turn done + 1) and the newest history.
-- Everything pending is answered by the lease holder, whichever request brought it there.
-- Returns {'gone'} (no session) | {'done', done} (nothing pending; holder's lease, if any, is
-- released) | {'busy', ms the lease has left} (another holder) |
-- {'turn', seq, message JSON or '', restart 0|1, stop 0|1, {history JSON...}}.
--
-- KEYS[1..7] and ARGV[1..3]: the session's, named in prelude.lua. Its own ARGV:
local holder = ARGV[4]           -- the worker attempt asking
local lease_ms = ARGV[5]         -- how long the lease lasts unless renewed, ms
local hist_n = tonumber(ARGV[6]) -- history messages to return (the newest)

local h = redis.call('HMGET', H, 'name', 'seq', 'done', 'started', 'stop')
if not h[1] then return {'gone'} end
local seq = num(h[2])
local done = num(h[3])
local current = redis.call('GET', LEASE)
if done >= seq then
  if current == holder then redis.call('DEL', LEASE) end
  return {'done', done}
end
if current and current ~= holder then return {'busy', redis.call('PTTL', LEASE)} end
-- Read before writing: a script is not rolled back, so a key Redis refuses to read (wrong
-- type) must fail the script before it takes the lease, or the lease would block every retry.
local n = done + 1
local msg = redis.call('LINDEX', PEND, 0) or ''
local hist = {}
if hist_n > 0 then hist = redis.call('LRANGE', MSGS, -hist_n, -1) end
redis.call('SET', LEASE, holder, 'PX', lease_ms)
local restart = 0
if num(h[4]) == n then restart = 1 end
redis.call('HSET', H, 'started', n)
local stop = 0
if num(h[5]) == n then stop = 1 end
return {'turn', n, msg, restart, stop, hist}
