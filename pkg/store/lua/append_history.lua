-- append_history.lua (Store.AppendHistory, session.go): append messages to the history,
-- capped. Returns the history's length, or -1 when the session does not exist.
--
-- KEYS[1..4] and ARGV[1..4]: the session's, named in prelude.lua. Its own ARGV:
local hist_max = tonumber(ARGV[5]) -- session.history_max: the history keeps the newest this many
local FIRST = 6                    -- ARGV[FIRST..#ARGV]: the messages, JSON, oldest first

if redis.call('EXISTS', H) == 0 then return -1 end
if #ARGV < FIRST then return redis.call('LLEN', MSGS) end
local len = redis.call('RPUSH', MSGS, unpack(ARGV, FIRST))
if len > hist_max then redis.call('LTRIM', MSGS, -hist_max, -1) end
local f = {}
slide(false, f, true)
redis.call('HSET', H, unpack(f))
return math.min(len, hist_max)
