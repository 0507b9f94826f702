-- emit.lua (Store.Emit and Store.EmitDelta, events.go): write one event, under the lease when
-- a holder is given.
-- Returns the event's ID (its offset), or nil when the session is gone or the lease is held by
-- someone else.
--
-- KEYS[1..7] and ARGV[1..3]: the session's, named in prelude.lua. Its own ARGV:
local holder = ARGV[4] -- the worker attempt writing, '' to write outside any lease
local typ = ARGV[5]    -- the event's frame type
local body = ARGV[6]   -- the event's JSON body, without the offset

local h = redis.call('HMGET', H, 'name', 'last')
if not h[1] then return false end
if holder ~= '' and redis.call('GET', LEASE) ~= holder then return false end
local id = emit(typ, body, h[2])
redis.call('PEXPIRE', OUT, TTL)
return id
