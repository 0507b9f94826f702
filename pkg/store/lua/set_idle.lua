-- set_idle.lua (Store.KeepRequests and Store.HandBackRequests, requests.go): set the idle time
-- of the requests a consumer still owns, never taking one that another consumer claimed
-- meanwhile. Returns the IDs the consumer owns.
--
-- KEYS and ARGV:
local STREAM = KEYS[1]   -- chat:requests:{p}, a request stream
local group = ARGV[1]    -- its consumer group
local consumer = ARGV[2] -- the consumer the requests should belong to
local idle = ARGV[3]     -- the idle time to set, ms (0: "still working on it")
local FIRST = 4          -- ARGV[FIRST..#ARGV]: the request IDs

local out = {}
for i = FIRST, #ARGV do
  local p = redis.call('XPENDING', STREAM, group, ARGV[i], ARGV[i], 1, consumer)
  if #p == 1 then
    redis.call('XCLAIM', STREAM, group, consumer, 0, ARGV[i], 'IDLE', idle, 'JUSTID')
    out[#out + 1] = ARGV[i]
  end
end
return out
