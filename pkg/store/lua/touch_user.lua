-- touch_user.lua (Store.touchUser, user.go): count one action of a user against a per-minute
-- limit and mark the session active in the user's index, pruning the members older than the
-- session TTL.
-- Returns {'ok'} | {'rate_limited', ms until the window ends}.
--
-- KEYS (both on the user's slot, {U}) and ARGV:
local INDEX = KEYS[1]           -- chat:user:{U}:sessions, the user's index of sessions
local COUNT = KEYS[2]           -- chat:user:{U}:messages or :created, the counter of the limit
local now = tonumber(ARGV[1])   -- now, Unix ms
local ttl = tonumber(ARGV[2])   -- the session TTL, ms
local token = ARGV[3]           -- the session's token
local limit = tonumber(ARGV[4]) -- the limit per minute, 0 for none

if limit > 0 then
  local used = tonumber(redis.call('GET', COUNT) or '0') or 0
  if used >= limit then return {'rate_limited', redis.call('PTTL', COUNT)} end
  if used == 0 then redis.call('SET', COUNT, 1, 'PX', 60000) else redis.call('INCR', COUNT) end
end
redis.call('ZREMRANGEBYSCORE', INDEX, '-inf', '(' .. string.format('%d', now - ttl))
redis.call('ZADD', INDEX, 'GT', now, token)
redis.call('PEXPIRE', INDEX, ttl)
return {'ok'}
