-- send.lua (Store.Send, send.go): queue one user message. Checks the client_id (a resend
-- returns the first send's record and queues nothing new), limits.max_pending (seq - done)
-- and limits.messages_per_minute; then takes the next seq, appends the message to PEND and
-- writes the ack event. On a single Redis (not a cluster: every key is on the one node) the
-- caller also gives the session's request stream, and the script adds the request itself, so
-- send is one round trip and one atomic step. With auth.mode jwt the session's first message
-- also gives it its title.
-- Returns {'ok', seq, ack offset} | {'dup', "seq id offset" of the first send, done} |
-- {'expired'} | {'too_many_pending'} | {'rate_limited', ms until the window ends}.
--
-- KEYS[1..7] and ARGV[1..3]: the session's, named in prelude.lua. Its own KEYS and ARGV:
local REQS = KEYS[8]                  -- chat:requests:{p}, the session's request stream; nil on a cluster
local msg = ARGV[4]                   -- the message, JSON
local msg_id = ARGV[5]                -- the message's id
local cid = ARGV[6]                   -- its client_id, '' for none
local max_pending = tonumber(ARGV[7]) -- limits.max_pending
local per_minute = tonumber(ARGV[8])  -- limits.messages_per_minute
local ack_body = ARGV[9]              -- the ack event's JSON body
local cids_kept = tonumber(ARGV[10])  -- client_ids CLI keeps (about)
local reqs_max = ARGV[11]             -- REQS's max length (XADD MAXLEN ~): given with REQS or title
local token = ARGV[12]                -- the session's token: given with REQS or title
local title = ARGV[13]                -- the session's title (auth.mode jwt); nil otherwise

-- Names Go shares (lua_test.go checks each equals the pkg/chat constant its comment names).
local ACK = 'ack'         -- chat.FrameAck: the type of the event that acknowledges a message
local REQ_TOKEN = 'token' -- chat.ReqFieldToken: a request's session
local REQ_SEQ = 'seq'     -- chat.ReqFieldSeq: the seq it asks to be answered up to

-- enqueue adds "the session has work up to seq" to REQS, when given one.
local function enqueue(seq)
  if REQS then
    redis.call('XADD', REQS, 'MAXLEN', '~', reqs_max, '*', REQ_TOKEN, token, REQ_SEQ, seq)
  end
end

local h = redis.call('HMGET', H, 'name', 'seq', 'done', 'last')
if not h[1] then return {'expired'} end
local seq = num(h[2])
local done = num(h[3])
if cid ~= '' then
  local prior = redis.call('HGET', CLI, cid)
  if prior then
    local pseq = num(string.match(prior, '^%d+'))
    if pseq > done then enqueue(pseq) end
    return {'dup', prior, done}
  end
end
if seq - done >= max_pending then return {'too_many_pending'} end
local used = num(redis.call('GET', RATE))
if used >= per_minute then return {'rate_limited', redis.call('PTTL', RATE)} end
if used == 0 then redis.call('SET', RATE, 1, 'PX', 60000) else redis.call('INCR', RATE) end
seq = redis.call('HINCRBY', H, 'seq', 1)
if seq == 1 and title then redis.call('HSET', H, 'title', title) end
redis.call('RPUSH', PEND, msg)
local off = emit(ACK, ack_body, h[4])
if cid ~= '' then
  redis.call('HSET', CLI, cid, seq .. ' ' .. msg_id .. ' ' .. off)
  if redis.call('HLEN', CLI) > cids_kept then
    local all = redis.call('HGETALL', CLI)
    for i = 1, #all, 2 do
      if num(string.match(all[i + 1], '^%d+')) <= seq - cids_kept / 2 then redis.call('HDEL', CLI, all[i]) end
    end
  end
end
touch()
enqueue(seq)
return {'ok', seq, off}
