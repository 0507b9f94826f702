-- finish_turn.lua (Store.FinishTurn and Store.FinishTurnAck, turn.go): store a finished turn
-- in one step: move the message from PEND to the history, append the reply, mark the turn
-- done, write the event, and release the lease when nothing else is pending.
-- On a single Redis the caller may also give a request stream and a request: when nothing
-- else is pending (the lease is released), the request is acknowledged in the same step (an
-- XACK error, such as a group deleted meanwhile, only leaves it unacknowledged). While more is
-- pending, the lease holder's request stays pending: it covers the requests that found the
-- session busy and were acknowledged at once.
-- Returns {'ok', offset, more 0|1, acked 0|1} | {'gone'} (no session) | {'lost'} (the lease
-- is not holder's) | {'stale', done} (the turn is not done + 1).
--
-- KEYS[1..7] and ARGV[1..3]: the session's, named in prelude.lua. Its own KEYS and ARGV:
local REQS = KEYS[8]               -- chat:requests:{p} holding the request to acknowledge; nil for none
local holder = ARGV[4]             -- the worker attempt that worked on the turn
local n = tonumber(ARGV[5])        -- the turn's seq
local answer = ARGV[6]             -- the reply, JSON, '' for none (the turn failed)
local typ = ARGV[7]                -- the event's frame type (message or error)
local body = ARGV[8]               -- the event's JSON body, without the offset
local hist_max = tonumber(ARGV[9]) -- session.history_max: the history keeps the newest this many
local group = ARGV[10]             -- with REQS: the consumer group
local req_id = ARGV[11]            -- with REQS: the request's entry ID

local h = redis.call('HMGET', H, 'name', 'done', 'stop', 'seq', 'last')
if not h[1] then return {'gone'} end
if redis.call('GET', LEASE) ~= holder then return {'lost'} end
local done = num(h[2])
if done + 1 ~= n then return {'stale', done} end
local human = redis.call('LPOP', PEND)
if human then redis.call('RPUSH', MSGS, human) end
if answer ~= '' then redis.call('RPUSH', MSGS, answer) end
redis.call('LTRIM', MSGS, -hist_max, -1)
redis.call('HSET', H, 'done', n)
if num(h[3]) <= n then redis.call('HDEL', H, 'stop') end
local off = emit(typ, body, h[5])
local more = 0
if num(h[4]) > n then more = 1 else redis.call('DEL', LEASE) end
touch()
local acked = 0
if REQS and more == 0 and type(redis.pcall('XACK', REQS, group, req_id)) == 'number' then acked = 1 end
return {'ok', off, more, acked}
