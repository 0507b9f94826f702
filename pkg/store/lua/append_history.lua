-- append_history.lua (Store.AppendHistory, session.go): append messages to the history,
-- capped by count and bytes. Returns the history's length, or -1 when the session does not
-- exist.
--
-- KEYS[1..4] and ARGV[1..4]: the session's, named in prelude.lua. Its own ARGV:
local hist_caps = ARGV[5] -- "N B": the history keeps the newest N entries, B bytes (session.history_max, _bytes)
local FIRST = 6           -- ARGV[FIRST..#ARGV]: the messages, JSON, oldest first

local h = redis.call('HMGET', H, 'name', 'hist_bytes')
if not h[1] then return -1 end
if #ARGV < FIRST then return redis.call('LLEN', MSGS) end
local len = redis.call('RPUSH', MSGS, unpack(ARGV, FIRST))
local bytes = num(h[2])
for i = FIRST, #ARGV do bytes = bytes + #ARGV[i] end
local hist_max, hist_max_bytes = caps(hist_caps)
local left, dropped = trim_history(len, bytes, hist_max, hist_max_bytes, 0)
local f = {}
put(f, 'hist_bytes', left)
slide(false, f, true)
redis.call('HSET', H, unpack(f))
return len - dropped
