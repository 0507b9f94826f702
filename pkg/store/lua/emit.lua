-- emit.lua (Store.Emit and Store.EmitDelta, events.go): write one event, under the lease when
-- a holder is given.
-- Returns the event's ID (its offset), or nil when the session is gone or the lease is held by
-- someone else; a holder's delta returns {ID} when the user asked to stop its turn
-- (emit_delta).
--
-- KEYS[1..4] and ARGV[1..4]: the session's, named in prelude.lua. Its own ARGV:
local holder = ARGV[5] -- the worker attempt writing, '' to write outside any lease
local typ = ARGV[6]    -- the event's frame type
local body = ARGV[7]   -- the event's JSON body, without the offset
local prev = ARGV[8]   -- a holder's delta: the ID of the delta it wrote before, '' for none
local seq = tonumber(ARGV[9]) -- a holder's delta: its turn's seq

if holder ~= '' and typ == EV_DELTA then return emit_delta(holder, prev, body, seq) end
local h = redis.call('HMGET', H, 'name', 'last', 'lease', 'ev_n', 'ev_bytes', 'deltas')
if not h[1] then return false end
if holder ~= '' and h[3] ~= holder then return false end
local id = emit(typ, body, newest(h[2], h[6]))
local f = {'last', id}
count_event(f, typ, body, h[4], h[5])
redis.call('HSET', H, unpack(f))
-- Outside a lease (ops, tests) this may be the session's first event: OUT gets its TTL. A
-- holder's turn began after a message, whose ack made OUT.
if holder == '' then redis.call('PEXPIRE', OUT, TTL) end
return id
