-- release_lease.lua (Store.ReleaseLease, turn.go): give the lease back if holder still has
-- it. Returns 1 if it did, 0 otherwise.
--
-- KEYS[1..4] and ARGV[1..4]: the session's, named in prelude.lua. Its own ARGV:
local holder = ARGV[5] -- the worker attempt giving the lease back

if redis.call('HGET', H, 'lease') ~= holder then return 0 end
redis.call('HSET', H, 'lease', '')
return 1
