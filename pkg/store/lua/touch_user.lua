-- touch_user.lua (Store.touchUser, user.go): count one action of a user against a per-minute
-- limit and mark the session active in the user's index, pruning the members older than the
-- session TTL (user_step.lua, which exec.go puts before this text). Given the user's usage key,
-- a message is first refused when the day's token budget is spent (usage.lua).
-- Returns {'ok'} | {'rate_limited', ms until the window ends} | {'quota'}.
--
-- KEYS (both on the user's slot, {U}) and ARGV:
local INDEX = KEYS[1]           -- chat:user:{U}:sessions, the user's index of sessions
local COUNT = KEYS[2]           -- chat:user:{U}:messages or :created, the counter of the limit
local USAGE = KEYS[3]           -- chat:user:{U}:usage:DAY (a message), nil (a session)
local now = tonumber(ARGV[1])   -- now, Unix ms
local ttl = tonumber(ARGV[2])   -- the session TTL, ms
local token = ARGV[3]           -- the session's token
local limit = tonumber(ARGV[4]) -- the limit per minute, 0 for none
local day = ARGV[5]             -- with USAGE: the UTC day, YYYY-MM-DD
local tokens_limit = ARGV[6]    -- with USAGE: limits.tokens_per_day_per_user (0: none)

if USAGE and usage_over(USAGE, '', day, tonumber(tokens_limit)) then return {'quota'} end
local left = touch_user(INDEX, COUNT, now, ttl, token, limit)
if left then return {'rate_limited', left} end
return {'ok'}
