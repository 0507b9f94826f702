-- remove_consumer.lua (Store.RemoveConsumer, requests.go): delete a consumer from the group
-- if it holds no pending request (a deleted consumer's pending requests would be lost).
-- Returns 1 if it was deleted, 0 otherwise.
--
-- KEYS and ARGV:
local STREAM = KEYS[1]   -- chat:requests:{p}, a request stream
local group = ARGV[1]    -- its consumer group
local consumer = ARGV[2] -- the consumer to remove

local p = redis.call('XPENDING', STREAM, group, '-', '+', 1, consumer)
if #p > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', STREAM, group, consumer)
return 1
