-- renew_lease.lua (Store.RenewLease, turn.go): extend the lease while a turn is worked on, and
-- report whether the user asked to stop that turn (renew, lease.lua).
-- Returns {held 0|1, stop 0|1} (held 0: the lease is someone else's, or gone).
--
-- KEYS[1..4] and ARGV[1..4]: the session's, named in prelude.lua. Its own ARGV:
local holder = ARGV[5]             -- the worker attempt working on the turn
local lease_ms = tonumber(ARGV[6]) -- the lease's new time left, ms
local seq = tonumber(ARGV[7])      -- the turn's seq

return renew(holder, lease_ms, seq)
