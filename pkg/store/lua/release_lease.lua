-- release_lease.lua (Store.ReleaseLease and Store.YieldLease, turn.go): give the lease back if
-- holder still has it. With queued_ms, the session is marked QUEUED (prelude.lua) for that long
-- instead: its request is being put back in its stream (a worker that lets others have its
-- slot), and a message sent meanwhile needs no request of its own.
-- Returns 1 if it did, 0 otherwise.
--
-- KEYS[1..4] and ARGV[1..4]: the session's, named in prelude.lua. Its own ARGV:
local holder = ARGV[5]              -- the worker attempt giving the lease back
local queued_ms = tonumber(ARGV[6]) -- how long the session stays marked QUEUED, ms; 0: not marked

if redis.call('HGET', H, 'lease') ~= holder then return 0 end
if queued_ms > 0 then
  redis.call('HSET', H, 'lease', QUEUED, 'until', int(NOW + queued_ms))
else
  redis.call('HSET', H, 'lease', '')
end
return 1
