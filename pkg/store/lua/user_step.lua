-- user_step.lua: the user step of auth.mode jwt, a function that touch_user.lua runs on its
-- own and send.lua runs first on a single Redis (where the user's keys and the session's are
-- on one node, so a message costs one round trip).

-- touch_user counts one action of a user against a per-minute limit (COUNT; limit 0: none)
-- and marks the session token active at now (Unix ms) in the user's index (INDEX), pruning
-- the members older than ttl (ms). It returns nil, or the ms until the window ends when the
-- limit is reached (nothing is counted or marked then).
local function touch_user(INDEX, COUNT, now, ttl, token, limit)
  if limit > 0 then
    local used = tonumber(redis.call('GET', COUNT) or '0') or 0
    if used >= limit then return redis.call('PTTL', COUNT) end
    if used == 0 then redis.call('SET', COUNT, 1, 'PX', 60000) else redis.call('INCR', COUNT) end
  end
  redis.call('ZREMRANGEBYSCORE', INDEX, '-inf', '(' .. string.format('%d', now - ttl))
  redis.call('ZADD', INDEX, 'GT', now, token)
  redis.call('PEXPIRE', INDEX, ttl)
  return nil
end
