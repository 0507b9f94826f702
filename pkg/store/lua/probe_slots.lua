-- probe_slots.lua (Store.probeSlots, server.go): write one value to keys of several hash slots
-- in one script, as a send does on a single Redis (the session's keys and a request stream);
-- the caller then reads each key back with a plain GET. A proxy in front of a sharded Redis
-- refuses the script (CROSSSLOT) or runs it on the node of one key only. The keys expire.
-- Returns the number of keys written.
--
-- KEYS and ARGV:
local value = ARGV[1]  -- what to write
local ttl_ms = ARGV[2] -- how long the keys live, ms

for _, key in ipairs(KEYS) do redis.call('SET', key, value, 'PX', ttl_ms) end
return #KEYS
