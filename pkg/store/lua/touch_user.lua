-- touch_user.lua (Store.touchUser, user.go): count one action of a user against a per-minute
-- limit and mark the session active in the user's index, pruning the members older than the
-- session TTL (user_step.lua, which exec.go puts before this text).
-- Returns {'ok'} | {'rate_limited', ms until the window ends}.
--
-- KEYS (both on the user's slot, {U}) and ARGV:
local INDEX = KEYS[1]           -- chat:user:{U}:sessions, the user's index of sessions
local COUNT = KEYS[2]           -- chat:user:{U}:messages or :created, the counter of the limit
local now = tonumber(ARGV[1])   -- now, Unix ms
local ttl = tonumber(ARGV[2])   -- the session TTL, ms
local token = ARGV[3]           -- the session's token
local limit = tonumber(ARGV[4]) -- the limit per minute, 0 for none

local left = touch_user(INDEX, COUNT, now, ttl, token, limit)
if left then return {'rate_limited', left} end
return {'ok'}
