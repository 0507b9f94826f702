-- get_session.lua (Store.getSession, session.go; for GetSession and GetSessionOf): read a
-- session, and with slide set its TTL back to session.ttl (the read counts as activity).
-- Returns {name, start, {history JSON...}, {pending JSON...}}, or nil when it does not exist
-- or belongs to someone else.
--
-- KEYS[1..4] and ARGV[1..4]: the session's, named in prelude.lua. Its own ARGV:
local slide_ttl = ARGV[5] -- '1': slide the session's TTL (the read counts as activity)
local caller = ARGV[6]    -- the caller's sub (auth.mode jwt), '' for anyone (auth.mode none)

local h = redis.call('HMGET', H, 'name', 'start', 'user', 'done', 'base')
if not h[1] then return false end
if caller ~= '' and h[3] ~= caller then return false end
local msgs = redis.call('LRANGE', MSGS, 0, -1)
local done = num(h[4])
local pend = redis.call('LRANGE', PEND, done - pend_base(h[5], done), -1)
if slide_ttl == '1' then
  local f = {}
  slide(false, f, true)
  redis.call('HSET', H, unpack(f))
end
return {h[1], h[2], msgs, pend}
