-- requeue.lua (Store.Requeue, requests.go): put a request back at the end of its stream in one
-- step: add a new request for the same session, then acknowledge the old one (a worker that
-- lets others have its slot while the session still has work). If the old one is no longer
-- the consumer's (taken over meanwhile), nothing is done.
-- Returns the new request's ID, or false.
--
-- KEYS and ARGV:
local STREAM = KEYS[1]   -- chat:requests:{p}, the session's request stream
local group = ARGV[1]    -- its consumer group
local consumer = ARGV[2] -- the consumer that holds the old request
local old = ARGV[3]      -- the old request's entry ID
local token = ARGV[4]    -- the session's token
local seq = ARGV[5]      -- the seq the new request asks to be answered up to
local max_len = ARGV[6]  -- STREAM's max length (XADD MAXLEN ~)
local trace = ARGV[7]    -- the old request's W3C traceparent, '' for none

-- Names Go shares (lua_test.go checks each equals the pkg/chat constant its comment names).
local REQ_TOKEN = 'token' -- chat.ReqFieldToken: a request's session
local REQ_SEQ = 'seq'     -- chat.ReqFieldSeq: the seq it asks to be answered up to
local REQ_TRACE = 'traceparent' -- chat.ReqFieldTraceparent: the trace it carries on

local p = redis.call('XPENDING', STREAM, group, old, old, 1, consumer)
if #p == 0 then return false end
local id
if trace ~= '' then
  id = redis.call('XADD', STREAM, 'MAXLEN', '~', max_len, '*', REQ_TOKEN, token, REQ_SEQ, seq, REQ_TRACE, trace)
else
  id = redis.call('XADD', STREAM, 'MAXLEN', '~', max_len, '*', REQ_TOKEN, token, REQ_SEQ, seq)
end
redis.call('XACK', STREAM, group, old)
return id
