-- get_session.lua (Store.getSession, session.go; for GetSession and GetSessionOf): read a
-- session.
-- Returns {name, start, {history JSON...}, {pending JSON...}}, or nil when it does not exist
-- or belongs to someone else.
--
-- KEYS[1..7] and ARGV[1..3]: the session's, named in prelude.lua. Its own ARGV:
local slide = ARGV[4]  -- '1': slide the session's TTL (the read counts as activity)
local caller = ARGV[5] -- the caller's sub (auth.mode jwt), '' for anyone (auth.mode none)

local h = redis.call('HMGET', H, 'name', 'start', 'user')
if not h[1] then return false end
if caller ~= '' and h[3] ~= caller then return false end
local msgs = redis.call('LRANGE', MSGS, 0, -1)
local pend = redis.call('LRANGE', PEND, 0, -1)
if slide == '1' then touch() end
return {h[1], h[2], msgs, pend}
