-- append_history.lua (Store.AppendHistory, session.go): append messages to the history,
-- capped. Returns the history's length, or -1 when the session does not exist.
--
-- KEYS[1..7] and ARGV[1..3]: the session's, named in prelude.lua. Its own ARGV:
local hist_max = tonumber(ARGV[4]) -- session.history_max: the history keeps the newest this many
local FIRST = 5                    -- ARGV[FIRST..#ARGV]: the messages, JSON, oldest first

if redis.call('EXISTS', H) == 0 then return -1 end
for i = FIRST, #ARGV do redis.call('RPUSH', MSGS, ARGV[i]) end
redis.call('LTRIM', MSGS, -hist_max, -1)
touch()
return redis.call('LLEN', MSGS)
