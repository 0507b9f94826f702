-- taken_requests.lua (Store.TakenRequests, requests.go): find which of some requests are
-- pending with another consumer (taken over), as opposed to acknowledged. Returns the IDs
-- another consumer holds.
--
-- KEYS and ARGV:
local STREAM = KEYS[1]   -- chat:requests:{p}, a request stream
local group = ARGV[1]    -- its consumer group
local consumer = ARGV[2] -- the consumer asking
local FIRST = 3          -- ARGV[FIRST..#ARGV]: the request IDs

local out = {}
for i = FIRST, #ARGV do
  local p = redis.call('XPENDING', STREAM, group, ARGV[i], ARGV[i], 1)
  if #p == 1 and p[1][2] ~= consumer then out[#out + 1] = ARGV[i] end
end
return out
