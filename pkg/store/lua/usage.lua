-- usage.lua: a user's token usage of one UTC day and the reservations of their turns in
-- flight, as fields of a hash K whose names start with pf: with auth.mode jwt the user's key
-- chat:user:{U}:usage:DAY (pf ''), with mode none the session's hash (pf 'usage_'), the session
-- standing in for the user. The scripts that count or check usage put this text before their
-- own (exec.go). Fields:
--   day                 the UTC day (YYYY-MM-DD) the others count: another day's are zero
--   prompt, completion  the day's tokens; turns: the day's answered turns
--   grant               tokens added to the day's budget by hand (chatbot usage grant)
--   r:S                 the reservation of session S's turn in flight (mode none: S is ''):
--                       "tokens until holder", until in Unix ms (the caller's clock)

-- unum reads a counter stored as a string: missing or not a number is 0.
local function unum(v) return tonumber(v or '0') or 0 end

-- usage_read returns K's day record as {day, prompt, completion, turns, grant}, zero when K
-- counts another day, and the live reservations of sessions other than own (with all: every
-- r: field of K, which must then be a user's key; otherwise none).
local function usage_read(K, pf, day, now, own, all)
  local u = {prompt = 0, completion = 0, turns = 0, grant = 0, held = 0, fresh = true}
  local v
  if all then
    v = {}
    local kv = redis.call('HGETALL', K)
    for i = 1, #kv, 2 do
      local f = kv[i]
      if string.sub(f, 1, 2) == 'r:' then
        if f ~= own then
          local tok, till = string.match(kv[i + 1], '^(%d+) (%d+)')
          if tok and unum(till) > now then u.held = u.held + unum(tok) end
        end
      else
        v[f] = kv[i + 1]
      end
    end
  else
    local h = redis.call('HMGET', K, pf .. 'day', pf .. 'prompt', pf .. 'completion', pf .. 'turns', pf .. 'grant')
    v = {day = h[1], prompt = h[2], completion = h[3], turns = h[4], grant = h[5]}
  end
  if v.day == day then
    u.prompt, u.completion, u.turns, u.grant = unum(v.prompt), unum(v.completion), unum(v.turns), unum(v.grant)
    u.fresh = false
  end
  return u
end

-- usage_spent says whether the day's budget (limit + grant; limit 0: none) is spent: the
-- tokens used and reserved by other turns at or over it.
local function usage_spent(u, limit)
  return limit > 0 and u.prompt + u.completion + u.held >= limit + u.grant
end

-- usage_over says whether the day's budget of K (limit 0: none) is spent: a message sent is
-- refused.
local function usage_over(K, pf, day, limit)
  return limit > 0 and usage_spent(usage_read(K, pf, day, 0, '', false), limit)
end

-- usage_write writes u's counts to K for day, and, when it starts K's record of the day,
-- sets K to expire in keep ms (0: leave it, as a session's hash).
local function usage_write(K, pf, day, u, fresh, keep)
  redis.call('HSET', K, pf .. 'day', day, pf .. 'prompt', u.prompt, pf .. 'completion', u.completion,
    pf .. 'turns', u.turns, pf .. 'grant', u.grant)
  if fresh and keep > 0 then redis.call('PEXPIRE', K, keep) end
end

-- usage_settle adds a turn's tokens to K's day and drops the reservation own while holder
-- still has it (a later attempt at the session's turn may have replaced it).
local function usage_settle(K, pf, day, prompt, completion, own, holder, keep)
  local h = redis.call('HMGET', K, pf .. 'day', pf .. 'prompt', pf .. 'completion', pf .. 'turns', pf .. 'grant', own)
  local u = {prompt = 0, completion = 0, turns = 0, grant = 0}
  if h[1] == day then
    u.prompt, u.completion, u.turns, u.grant = unum(h[2]), unum(h[3]), unum(h[4]), unum(h[5])
  end
  u.prompt = u.prompt + prompt
  u.completion = u.completion + completion
  u.turns = u.turns + 1
  usage_write(K, pf, day, u, h[1] ~= day, keep)
  if h[6] and string.match(h[6], '^%d+ %d+ (.*)$') == holder then redis.call('HDEL', K, own) end
end

-- usage_reserve holds tokens for holder's turn of session own (replacing an earlier attempt's)
-- until until_ms, starting K's record of the day (u fresh: see usage_write) if need be.
local function usage_reserve(K, pf, day, u, own, tokens, until_ms, holder, keep)
  if u.fresh then usage_write(K, pf, day, u, true, keep) end
  redis.call('HSET', K, own, string.format('%d %d %s', tokens, until_ms, holder))
end
