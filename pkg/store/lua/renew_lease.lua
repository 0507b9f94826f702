-- renew_lease.lua (Store.RenewLease, turn.go): extend the lease while a turn is worked on, and
-- report whether the user asked to stop that turn.
-- Returns {held 0|1, stop 0|1} (held 0: the lease is someone else's, or gone).
--
-- KEYS[1..7] and ARGV[1..3]: the session's, named in prelude.lua. Its own ARGV:
local holder = ARGV[4]        -- the worker attempt working on the turn
local lease_ms = ARGV[5]      -- the lease's new time left, ms
local seq = tonumber(ARGV[6]) -- the turn's seq

if redis.call('GET', LEASE) ~= holder then return {0, 0} end
redis.call('PEXPIRE', LEASE, lease_ms)
local stop = 0
if num(redis.call('HGET', H, 'stop')) == seq then stop = 1 end
return {1, stop}
