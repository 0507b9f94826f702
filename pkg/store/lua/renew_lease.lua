-- renew_lease.lua (Store.RenewLease, turn.go): extend the lease while a turn is worked on, and
-- report whether the user asked to stop that turn.
-- Returns {held 0|1, stop 0|1} (held 0: the lease is someone else's, or gone).
--
-- KEYS[1..4] and ARGV[1..4]: the session's, named in prelude.lua. Its own ARGV:
local holder = ARGV[5]             -- the worker attempt working on the turn
local lease_ms = tonumber(ARGV[6]) -- the lease's new time left, ms
local seq = tonumber(ARGV[7])      -- the turn's seq

local h = redis.call('HMGET', H, 'lease', 'stop')
if h[1] ~= holder then return {0, 0} end
redis.call('HSET', H, 'until', int(NOW + lease_ms))
local stop = 0
if num(h[2]) == seq then stop = 1 end
return {1, stop}
