-- release_lease.lua (Store.ReleaseLease, turn.go): give the lease back if holder still has
-- it. Returns 1 if it was released, 0 otherwise.
--
-- KEYS[1..7] and ARGV[1..3]: the session's, named in prelude.lua. Its own ARGV:
local holder = ARGV[4] -- the worker attempt giving the lease back

if redis.call('GET', LEASE) == holder then return redis.call('DEL', LEASE) end
return 0
