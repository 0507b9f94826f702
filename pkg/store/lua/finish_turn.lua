-- finish_turn.lua (Store.FinishTurn and Store.FinishTurnAck, turn.go): store a finished turn
-- in one step: append the message and the reply to the history, mark the turn done, write the
-- event, release the lease when nothing else is pending, and drop the turn's deltas (the
-- event has the whole reply). The answered message stays in PEND until a batch of
-- PEND_BATCH is trimmed at once. A regeneration's reply replaces the reply it names instead.
-- On a single Redis the caller may also give a request stream and a request: when nothing
-- else is pending (the lease is released), the request is acknowledged in the same step (an
-- XACK error, such as a group deleted meanwhile, only leaves it unacknowledged). While more is
-- pending, the lease holder's request stays pending: it covers the requests that found the
-- session busy and were acknowledged at once.
-- A turn that called the model counts its tokens for the session's day (usage_* fields, as
-- usage.lua names them with pf 'usage_'), unless the session has a user (auth.mode jwt: the
-- user's own key counts them, usage_settle.lua).
-- Returns {'ok', offset, more 0|1, acked 0|1} | {'gone'} (no session) | {'lost'} (the lease
-- is not holder's) | {'stale', done} (the turn is not done + 1).
--
-- KEYS[1..4] and ARGV[1..4]: the session's, named in prelude.lua. Its own KEYS and ARGV:
local REQS = KEYS[5]                -- chat:requests:{p} holding the request to acknowledge; nil for none
local holder = ARGV[5]              -- the worker attempt that worked on the turn
local n = tonumber(ARGV[6])         -- the turn's seq
local human = ARGV[7]               -- the message answered, JSON, as begin_turn.lua returned it
local answer = ARGV[8]              -- the reply, JSON, '' for none (the turn failed)
local typ = ARGV[9]                 -- the event's frame type (message or error)
local body = ARGV[10]               -- the event's JSON body, without the offset
local hist_caps = ARGV[11]          -- "N B": the history keeps the newest N entries, B bytes (session.history_max, _bytes)
local group = ARGV[12]              -- with REQS: the consumer group
local req_id = ARGV[13]             -- with REQS: the request's entry ID
local day = ARGV[14]                -- the UTC day the turn's usage counts for, YYYY-MM-DD
local prompt = tonumber(ARGV[15])   -- the turn's prompt tokens
local completion = tonumber(ARGV[16]) -- the turn's completion tokens
local count = ARGV[17]              -- '1': the turn called the model, count its usage
local FIRST = 18                    -- ARGV[FIRST..#ARGV]: the IDs of the turn's delta events

-- Names Go shares (lua_test.go checks each equals the pkg/chat constant its comment names).
local REGEN = '{"regenerate":' -- chat.RegenerationPrefix: starts the pending entry of a regeneration

-- PEND_BATCH: answered messages are trimmed from PEND once this many have gathered.
local PEND_BATCH = 16

local h = redis.call('HMGET', H, 'name', 'done', 'seq', 'last', 'lease', 'base', 'expires', 'hist_bytes', 'ev_n', 'ev_bytes',
  'user', 'usage_day', 'usage_prompt', 'usage_completion', 'usage_turns', 'usage_grant', 'deltas')
if not h[1] then return {'gone'} end
if h[5] ~= holder then return {'lost'} end
local done = num(h[2])
if done + 1 ~= n then return {'stale', done} end
local f = {}
local add = {}
local hist_bytes, replaced = num(h[8]), false -- the history's bytes ('hist_bytes'), a reply replaced
if string.sub(human, 1, #REGEN) == REGEN then
  -- A regeneration (regenerate.lua): its message is in the history already, and its reply
  -- takes the place of the one it replaces (the history's last entry; nothing replaces it if
  -- the turn failed again).
  local ok, e = pcall(cjson.decode, human)
  local old = ok and type(e) == 'table' and type(e.replaces) == 'string' and e.replaces
  -- A reply's id is a uuid, which chat.Marshal writes first and unescaped.
  local last = old and redis.call('LINDEX', MSGS, -1)
  if answer ~= '' and last and string.sub(last, 1, #old + 9) == '{"id":"' .. old .. '",' then
    redis.call('LSET', MSGS, -1, answer)
    hist_bytes, replaced = hist_bytes - #last + #answer, true
  elseif answer ~= '' then
    add[1] = answer
  end
else
  if human ~= '' then add[#add + 1] = human end
  if answer ~= '' then add[#add + 1] = answer end
end
local hist_max, hist_max_bytes = caps(hist_caps)
if #add > 0 then
  local len = redis.call('RPUSH', MSGS, unpack(add))
  for _, m in ipairs(add) do hist_bytes = hist_bytes + #m end
  put(f, 'hist_bytes', (trim_history(len, hist_bytes, hist_max, hist_max_bytes, #add)))
  if len == #add then redis.call('PEXPIRE', MSGS, TTL) end
elseif replaced then
  local len = redis.call('LLEN', MSGS)
  put(f, 'hist_bytes', (trim_history(len, hist_bytes, hist_max, hist_max_bytes, 1)))
end
put(f, 'done', n)
if count == '1' and not h[11] then
  -- The session's day of usage (auth.mode none): another day's counts start afresh.
  local p, c, t, g = 0, 0, 0, 0
  if h[12] == day then p, c, t, g = num(h[13]), num(h[14]), num(h[15]), num(h[16]) end
  put(f, 'usage_day', day)
  put(f, 'usage_prompt', p + prompt)
  put(f, 'usage_completion', c + completion)
  put(f, 'usage_turns', t + 1)
  put(f, 'usage_grant', g)
end
local base = pend_base(h[6], done)
if n - base >= PEND_BATCH then
  redis.call('LTRIM', PEND, n - base, -1)
  put(f, 'base', n)
elseif not h[6] then
  put(f, 'base', base)
end
-- The turn's deltas (counted in neither 'ev_n' nor 'ev_bytes') go before its event, which
-- follows the newest of them all the same: sockets had them.
local prev = newest(h[4], h[17])
if #ARGV >= FIRST then redis.call('XDEL', OUT, unpack(ARGV, FIRST)) end
local off = emit(typ, body, prev)
put(f, 'last', off)
if h[17] == STREAMING then put(f, 'deltas', STORED) end
count_event(f, typ, body, h[9], h[10])
local more = 0
if num(h[3]) > n then more = 1 else put(f, 'lease', '') end
slide(h[7], f)
redis.call('HSET', H, unpack(f))
local acked = 0
if REQS and more == 0 and type(redis.pcall('XACK', REQS, group, req_id)) == 'number' then acked = 1 end
return {'ok', off, more, acked}
