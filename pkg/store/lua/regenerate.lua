-- regenerate.lua (Store.Regenerate, regenerate.go): queue the last user message to be answered
-- again (the regenerate command). Refused while anything is pending (seq > done: a reply is
-- being written, or messages wait for theirs) and when the history does not end with a turn:
-- a user message, followed by its reply unless its turn failed. Checks the client_id (the
-- records send.lua keeps: a resend returns the first record and queues nothing new) and
-- limits.messages_per_minute (a regeneration costs a model call, as a message does); then
-- takes the next seq, appends the pending entry (a chat.Regeneration: the user message as
-- stored and the id of the reply it replaces; finish_turn.lua puts the new reply in its place)
-- and writes the ack event, with reply_to and replaces. A request is queued as send.lua does
-- (none while a lease is live; on a single Redis the script adds it).
-- Returns {'ok', seq, ack offset, queue 0|1} | {'dup', "seq id offset" of the first command,
-- done} | {'expired'} | {'busy'} | {'nothing'} | {'rate_limited', ms until the window ends}.
--
-- KEYS[1..4] and ARGV[1..4]: the session's, named in prelude.lua. Its own KEYS and ARGV:
local REQS = KEYS[5]                 -- chat:requests:{p}, the session's request stream; nil on a cluster
local entry = ARGV[5]                -- the pending entry's JSON up to its own fields (chat.RegenerationHead)
local ack_head = ARGV[6]             -- the ack event's JSON body without its closing brace
local regen_id = ARGV[7]             -- the command's id
local cid = ARGV[8]                  -- its client_id, '' for none
local per_minute = tonumber(ARGV[9]) -- limits.messages_per_minute
local reqs_max = ARGV[10]            -- REQS's max length (XADD MAXLEN ~)
local token = ARGV[11]               -- the session's token
local trace = ARGV[12]               -- the W3C traceparent the request carries, '' for none (tracing off)

-- Names Go shares (lua_test.go checks each equals the pkg/chat constant its comment names).
local ACK = 'ack'         -- chat.FrameAck: the type of the event that acknowledges a command
local REQ_TOKEN = 'token' -- chat.ReqFieldToken: a request's session
local REQ_SEQ = 'seq'     -- chat.ReqFieldSeq: the seq it asks to be answered up to
local REQ_TRACE = 'traceparent' -- chat.ReqFieldTraceparent: the trace of the command that queued it
local HUMAN = 'human'     -- chat.RoleHuman: a user message's role
local BOT = 'bot'         -- chat.RoleBot: a reply's role

-- A client_id's record is the hash field 'c:' .. client_id = "seq id offset" (send.lua's).
local CID = 'c:'

-- enqueue adds "the session has work up to seq" to REQS, with the trace when there is one.
local function enqueue(seq)
  if trace ~= '' then
    redis.call('XADD', REQS, 'MAXLEN', '~', reqs_max, '*', REQ_TOKEN, token, REQ_SEQ, seq, REQ_TRACE, trace)
  else
    redis.call('XADD', REQS, 'MAXLEN', '~', reqs_max, '*', REQ_TOKEN, token, REQ_SEQ, seq)
  end
end

local h = redis.call('HMGET', H, 'name', 'seq', 'done', 'last', 'rate', 'rate_end', 'expires', 'lease', 'until', CID .. cid, 'ev_n', 'ev_bytes', 'deltas')
if not h[1] then return {'expired'} end
local seq = num(h[2])
local done = num(h[3])
if cid ~= '' and h[10] then
  local pseq = num(string.match(h[10], '^%d+'))
  if pseq > done and REQS then enqueue(pseq) end
  return {'dup', h[10], done}
end
if seq > done then return {'busy'} end

-- The last turn: [user message, its reply] or, when the turn failed, [user message].
local function decode(s)
  local ok, m = pcall(cjson.decode, s)
  if ok and type(m) == 'table' and type(m.id) == 'string' then return m end
end
local tail = redis.call('LRANGE', MSGS, -2, -1)
local human, human_id, old
local last = tail[#tail] and decode(tail[#tail])
if last and last.role == HUMAN then
  human, human_id = tail[#tail], last.id
elseif last and last.role == BOT and #tail == 2 then
  local q = decode(tail[1])
  if q and q.role == HUMAN and q.id == last.reply_to then human, human_id, old = tail[1], q.id, last.id end
end
if not human then return {'nothing'} end

-- The rate window, as send.lua keeps it.
local used, window_end = num(h[5]), num(h[6])
if window_end <= NOW then used = 0 end
if used >= per_minute then return {'rate_limited', window_end - NOW} end
local f = {}
if used == 0 then put(f, 'rate_end', int(NOW + 60000)) end
put(f, 'rate', used + 1)
seq = seq + 1
put(f, 'seq', seq)
local replaces = ''
if old then replaces = ',"replaces":' .. cjson.encode(old) end
if redis.call('RPUSH', PEND, entry .. replaces .. ',"message":' .. human .. '}') == 1 then
  redis.call('PEXPIRE', PEND, TTL)
end
local ack = ack_head .. ',"reply_to":' .. cjson.encode(human_id) .. replaces .. '}'
local off = emit(ACK, ack, newest(h[4], h[13]))
put(f, 'last', off)
count_event(f, ACK, ack, h[11], h[12])
if cid ~= '' then put(f, CID .. cid, seq .. ' ' .. regen_id .. ' ' .. off) end
slide(h[7], f)
redis.call('HSET', H, unpack(f))
if (h[8] or '') ~= '' and num(h[9]) > NOW then return {'ok', seq, off, 0} end
if REQS then enqueue(seq) end
return {'ok', seq, off, 1}
