-- send.lua (Store.Send, send.go): queue one user message. Checks the client_id (a resend
-- returns the first send's record and queues nothing new), limits.max_pending (seq - done)
-- and limits.messages_per_minute; then takes the next seq, appends the message to PEND and
-- writes the ack event. A message sent while a worker attempt holds the session's lease needs
-- no request: the holder answers everything pending before it lets go (its own request stays
-- pending until then, and is taken over if it dies). Otherwise, on a single Redis (not a
-- cluster: every key is on the one node) the caller also gives the session's request stream,
-- and the script adds the request itself, so send is one round trip and one atomic step; with auth.mode jwt it then also gives the user's
-- keys and the script takes the user step first (user_step.lua). The session's first message
-- gives it its title (auth.mode jwt).
-- Returns {'ok', seq, ack offset, queue 0|1 (a request is needed: the script added it when
-- given REQS)} | {'dup', "seq id offset" of the first send, done} |
-- {'expired'} | {'too_many_pending'} | {'rate_limited', ms until the window ends} |
-- {'user_rate_limited', ms until the user's window ends} | {'quota'} (the day's token budget is
-- spent, usage.lua: the user's, USAGE, with auth.mode jwt; else the session's usage_* fields).
--
-- KEYS[1..4] and ARGV[1..4]: the session's, named in prelude.lua. Its own KEYS and ARGV:
local REQS = KEYS[5]                  -- chat:requests:{p}, the session's request stream; nil on a cluster
local INDEX = KEYS[6]                 -- with REQS and a user: chat:user:{U}:sessions; nil otherwise
local COUNT = KEYS[7]                 -- with INDEX: chat:user:{U}:messages
local USAGE = KEYS[8]                 -- with INDEX: chat:user:{U}:usage:DAY
local msg = ARGV[5]                   -- the message, JSON
local msg_id = ARGV[6]                -- the message's id
local cid = ARGV[7]                   -- its client_id, '' for none
local max_pending = tonumber(ARGV[8]) -- limits.max_pending
local per_minute = tonumber(ARGV[9])  -- limits.messages_per_minute
local ack_body = ARGV[10]             -- the ack event's JSON body
local cids_kept = tonumber(ARGV[11])  -- client_ids the hash keeps (about)
local reqs_max = ARGV[12]             -- REQS's max length (XADD MAXLEN ~)
local token = ARGV[13]                -- the session's token
local title = ARGV[14]                -- the session's title (auth.mode jwt), '' for none
local user_limit = tonumber(ARGV[15]) -- with INDEX: limits.messages_per_minute_per_user (0: none)
local day = ARGV[16]                  -- the UTC day, YYYY-MM-DD
local tokens_limit = tonumber(ARGV[17]) -- limits.tokens_per_day_per_user (0: none)
local trace = ARGV[18]                -- the W3C traceparent the request carries, '' for none (tracing off)

-- Names Go shares (lua_test.go checks each equals the pkg/chat constant its comment names).
local ACK = 'ack'         -- chat.FrameAck: the type of the event that acknowledges a message
local REQ_TOKEN = 'token' -- chat.ReqFieldToken: a request's session
local REQ_SEQ = 'seq'     -- chat.ReqFieldSeq: the seq it asks to be answered up to
local REQ_TRACE = 'traceparent' -- chat.ReqFieldTraceparent: the trace of the message that queued it

-- A client_id's record is the hash field 'c:' .. client_id = "seq id offset".
local CID = 'c:'

-- enqueue adds "the session has work up to seq" to REQS, when given one, with the trace when
-- there is one (no field at all otherwise: tracing off costs nothing).
local function enqueue(seq)
  if REQS and trace ~= '' then
    redis.call('XADD', REQS, 'MAXLEN', '~', reqs_max, '*', REQ_TOKEN, token, REQ_SEQ, seq, REQ_TRACE, trace)
  elseif REQS then
    redis.call('XADD', REQS, 'MAXLEN', '~', reqs_max, '*', REQ_TOKEN, token, REQ_SEQ, seq)
  end
end

if INDEX then
  if usage_over(USAGE, '', day, tokens_limit) then return {'quota'} end
  local left = touch_user(INDEX, COUNT, NOW, TTL, token, user_limit)
  if left then return {'user_rate_limited', left} end
end
local h = redis.call('HMGET', H, 'name', 'seq', 'done', 'last', 'rate', 'rate_end', 'expires', 'lease', 'until', CID .. cid, 'ev_n', 'ev_bytes',
  'user', 'usage_day', 'usage_prompt', 'usage_completion', 'usage_grant', 'deltas')
if not h[1] then return {'expired'} end
local seq = num(h[2])
local done = num(h[3])
if cid ~= '' and h[10] then
  local pseq = num(string.match(h[10], '^%d+'))
  if pseq > done then enqueue(pseq) end
  return {'dup', h[10], done}
end
-- auth.mode none: the session's own day of tokens (a session with a user was checked above, or
-- by the user step before this script on a cluster).
if tokens_limit > 0 and not h[13] and h[14] == day and num(h[15]) + num(h[16]) >= tokens_limit + num(h[17]) then
  return {'quota'}
end
if seq - done >= max_pending then return {'too_many_pending'} end
-- The rate window: 'rate' messages since the window began, until 'rate_end' (Unix ms).
local used, window_end = num(h[5]), num(h[6])
if window_end <= NOW then used = 0 end
if used >= per_minute then return {'rate_limited', window_end - NOW} end
local f = {}
if used == 0 then put(f, 'rate_end', int(NOW + 60000)) end
put(f, 'rate', used + 1)
seq = seq + 1
put(f, 'seq', seq)
if seq == 1 and title ~= '' then put(f, 'title', title) end
if redis.call('RPUSH', PEND, msg) == 1 then redis.call('PEXPIRE', PEND, TTL) end
local off = emit(ACK, ack_body, newest(h[4], h[18]))
put(f, 'last', off)
count_event(f, ACK, ack_body, h[11], h[12])
if cid ~= '' then
  put(f, CID .. cid, seq .. ' ' .. msg_id .. ' ' .. off)
end
-- Every cids_kept/2 messages, the records of the messages before the last cids_kept/2 go.
local half = math.max(1, math.floor(cids_kept / 2))
if seq % half == 0 then
  local all = redis.call('HGETALL', H)
  local old = {}
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, #CID) == CID and num(string.match(all[i + 1], '^%d+')) <= seq - half then
      old[#old + 1] = all[i]
    end
  end
  if #old > 0 then redis.call('HDEL', H, unpack(old)) end
end
-- The first message creates OUT: every key gets its TTL.
slide(h[7], f, seq == 1)
redis.call('HSET', H, unpack(f))
if (h[8] or '') ~= '' and num(h[9]) > NOW then return {'ok', seq, off, 0} end
enqueue(seq)
return {'ok', seq, off, 1}
