package store

import "github.com/redis/rueidis"

// Every script gets the same KEYS, all on the session's hash slot (Keys.SessionKeys):
//
//	KEYS[1] chat:{T}           hash: name, start, seq, done, last, started, stop
//	KEYS[2] chat:{T}:messages  history
//	KEYS[3] chat:{T}:pending   messages not yet answered
//	KEYS[4] chat:{T}:out       event stream
//	KEYS[5] chat:{T}:clients   client_id -> "seq id offset"
//	KEYS[6] chat:{T}:rate      messages in this minute
//	KEYS[7] chat:{T}:lease     worker attempt working on the session
//
// and the same first ARGV: ARGV[1] the notify channel, ARGV[2] the session TTL in ms,
// ARGV[3] the events kept in chat:{T}:out. Script-specific ARGV start at 4.
const prelude = `
local H, MSGS, PEND, OUT, CLI, RATE, LEASE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local CHAN, TTL, EVMAX = ARGV[1], ARGV[2], ARGV[3]
local function touch()
  for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], TTL) end
end
-- emit appends one event to OUT and announces it as "prev id type body". last is the hash's
-- 'last' field when the caller read it already (HMGET: false when unset), nil otherwise.
local function emit(typ, body, last)
  if last == nil then last = redis.call('HGET', H, 'last') end
  local prev = last or '-'
  local id = redis.call('XADD', OUT, 'MAXLEN', '~', EVMAX, '*', 't', typ, 'e', body)
  redis.call('HSET', H, 'last', id)
  redis.call('PUBLISH', CHAN, prev .. ' ' .. id .. ' ' .. typ .. ' ' .. body)
  return id
end
local function num(v) return tonumber(v or '0') or 0 end
`

func script(body string) *rueidis.Lua { return rueidis.NewLuaScript(prelude + body) }

// createScript makes a new session.
// ARGV[4] name, ARGV[5] session start (RFC 3339), ARGV[6] the owner's sub ("" for none:
// auth.mode none). Returns 1.
var createScript = script(`
redis.call('HSET', H, 'name', ARGV[4], 'start', ARGV[5], 'seq', 0, 'done', 0)
if ARGV[6] ~= '' then redis.call('HSET', H, 'user', ARGV[6]) end
touch()
return 1
`)

// getScript reads a session: {name, start, history, pending}, or nil when it does not exist
// or belongs to someone else. ARGV[4] "1" slides the TTL, ARGV[5] the caller's sub ("" for
// anyone: auth.mode none).
var getScript = script(`
local h = redis.call('HMGET', H, 'name', 'start', 'user')
if not h[1] then return false end
if ARGV[5] ~= '' and h[3] ~= ARGV[5] then return false end
local msgs = redis.call('LRANGE', MSGS, 0, -1)
local pend = redis.call('LRANGE', PEND, 0, -1)
if ARGV[4] == '1' then touch() end
return {h[1], h[2], msgs, pend}
`)

// deleteScript removes every key of the session and tells its sockets. Returns 1 if it existed.
// ARGV[4] the caller's sub ("" for anyone): a session of someone else is left alone (0).
var deleteScript = script(`
if ARGV[4] ~= '' and redis.call('HGET', H, 'user') ~= ARGV[4] then return 0 end
local existed = redis.call('EXISTS', H)
redis.call('DEL', H, MSGS, PEND, OUT, CLI, RATE, LEASE)
if existed == 1 then redis.call('PUBLISH', CHAN, 'deleted') end
return existed
`)

// appendScript appends JSON messages to the history, capped.
// ARGV[4] history max, ARGV[5..] messages. Returns the history length.
var appendScript = script(`
if redis.call('EXISTS', H) == 0 then return -1 end
for i = 5, #ARGV do redis.call('RPUSH', MSGS, ARGV[i]) end
redis.call('LTRIM', MSGS, -tonumber(ARGV[4]), -1)
touch()
return redis.call('LLEN', MSGS)
`)

// Scripts read the hash's fields they need with one HMGET, 'name' first: a session exists
// exactly when its hash does, and its hash always has a name.

// sendScript queues one user message: checks the limits and client_id, takes the next
// sequence number, appends the message to pending and writes the ack event.
// ARGV[4] message JSON, ARGV[5] message id, ARGV[6] client_id or "", ARGV[7] max pending,
// ARGV[8] messages per minute, ARGV[9] ack body, ARGV[10] client_ids kept.
// On a single Redis (no cluster: every key is on the one node) the caller also gives KEYS[8]
// the session's request stream, ARGV[11] its max length and ARGV[12] the token: the script
// then adds the request itself (see enqueue), so send is one round trip and one atomic step.
// ARGV[13], when given (auth.mode jwt; ARGV[11] and ARGV[12] are then given too), is the
// session's title: kept with the first message.
// Returns {"ok", seq, offset} | {"dup", "seq id offset", done} | {"expired"} |
// {"too_many_pending"} | {"rate_limited", ms until the window ends}.
var sendScript = script(`
-- enqueue adds "the session has work up to seq" to the request stream, when given one.
local function enqueue(seq)
  if KEYS[8] then
    redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[11], '*', 'token', ARGV[12], 'seq', seq)
  end
end
local h = redis.call('HMGET', H, 'name', 'seq', 'done', 'last')
if not h[1] then return {'expired'} end
local cid = ARGV[6]
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
if seq - done >= tonumber(ARGV[7]) then return {'too_many_pending'} end
local used = num(redis.call('GET', RATE))
if used >= tonumber(ARGV[8]) then return {'rate_limited', redis.call('PTTL', RATE)} end
if used == 0 then redis.call('SET', RATE, 1, 'PX', 60000) else redis.call('INCR', RATE) end
seq = redis.call('HINCRBY', H, 'seq', 1)
if seq == 1 and ARGV[13] then redis.call('HSET', H, 'title', ARGV[13]) end
redis.call('RPUSH', PEND, ARGV[4])
local off = emit('ack', ARGV[9], h[4])
if cid ~= '' then
  redis.call('HSET', CLI, cid, seq .. ' ' .. ARGV[5] .. ' ' .. off)
  local cap = tonumber(ARGV[10])
  if redis.call('HLEN', CLI) > cap then
    local all = redis.call('HGETALL', CLI)
    for i = 1, #all, 2 do
      if num(string.match(all[i + 1], '^%d+')) <= seq - cap / 2 then redis.call('HDEL', CLI, all[i]) end
    end
  end
end
touch()
enqueue(seq)
return {'ok', seq, off}
`)

// stopScript asks the worker to stop the reply being generated, if any.
// Returns the sequence number to stop, 0 when nothing is waiting, -1 when there is no session.
var stopScript = script(`
local h = redis.call('HMGET', H, 'name', 'seq', 'done')
if not h[1] then return -1 end
local seq = num(h[2])
local done = num(h[3])
if seq > done then
  redis.call('HSET', H, 'stop', done + 1)
  return done + 1
end
return 0
`)

// beginScript takes (or renews) the session's lease and returns the next turn.
// ARGV[4] holder, ARGV[5] lease ms, ARGV[6] history messages to return. Everything pending is
// answered by the lease holder, whichever request brought it there.
// Returns {"gone"} | {"done", done} (nothing pending) | {"busy", lease ms left} |
// {"turn", n, message JSON, restart 0|1, stop 0|1, {history JSON...}}.
var beginScript = script(`
local h = redis.call('HMGET', H, 'name', 'seq', 'done', 'started', 'stop')
if not h[1] then return {'gone'} end
local seq = num(h[2])
local done = num(h[3])
local holder = redis.call('GET', LEASE)
if done >= seq then
  if holder == ARGV[4] then redis.call('DEL', LEASE) end
  return {'done', done}
end
if holder and holder ~= ARGV[4] then return {'busy', redis.call('PTTL', LEASE)} end
-- Read before writing: a script is not rolled back, so a key Redis refuses to read (wrong
-- type) must fail the script before it takes the lease, or the lease would block every retry.
local n = done + 1
local msg = redis.call('LINDEX', PEND, 0) or ''
local hist = {}
local hn = tonumber(ARGV[6])
if hn > 0 then hist = redis.call('LRANGE', MSGS, -hn, -1) end
redis.call('SET', LEASE, ARGV[4], 'PX', ARGV[5])
local restart = 0
if num(h[4]) == n then restart = 1 end
redis.call('HSET', H, 'started', n)
local stop = 0
if num(h[5]) == n then stop = 1 end
return {'turn', n, msg, restart, stop, hist}
`)

// renewScript extends the lease while a turn is worked on and reports a stop request.
// ARGV[4] holder, ARGV[5] lease ms, ARGV[6] the turn's seq. Returns {held 0|1, stop 0|1}.
var renewScript = script(`
if redis.call('GET', LEASE) ~= ARGV[4] then return {0, 0} end
redis.call('PEXPIRE', LEASE, ARGV[5])
local stop = 0
if num(redis.call('HGET', H, 'stop')) == tonumber(ARGV[6]) then stop = 1 end
return {1, stop}
`)

// emitScript writes one event, under the lease when ARGV[4] names a holder.
// ARGV[4] holder or "", ARGV[5] type, ARGV[6] body. Returns the offset, or nil when the
// lease is held by someone else or the session is gone.
var emitScript = script(`
local h = redis.call('HMGET', H, 'name', 'last')
if not h[1] then return false end
if ARGV[4] ~= '' and redis.call('GET', LEASE) ~= ARGV[4] then return false end
local id = emit(ARGV[5], ARGV[6], h[2])
redis.call('PEXPIRE', OUT, TTL)
return id
`)

// finishScript stores a finished turn in one step: moves the message from pending to the
// history, appends the reply, marks the turn done, writes the event, and releases the lease
// when nothing else is pending.
// ARGV[4] holder, ARGV[5] the turn's seq, ARGV[6] reply JSON or "" (no reply), ARGV[7] event
// type, ARGV[8] event body, ARGV[9] history max.
// On a single Redis the caller may also give KEYS[8] a request stream, ARGV[10] the group and
// ARGV[11] a request ID: when nothing else is pending (the lease is released) the request is
// acknowledged in the same step (XACK; an error, such as a group deleted meanwhile, only
// leaves it unacknowledged). The lease holder's request stays pending while more is: it
// covers the requests that found the session busy and were acknowledged at once.
// Returns {"ok", offset, more 0|1, acked 0|1} | {"gone"} | {"lost"} (lease not ours) |
// {"stale", done}.
var finishScript = script(`
local h = redis.call('HMGET', H, 'name', 'done', 'stop', 'seq', 'last')
if not h[1] then return {'gone'} end
if redis.call('GET', LEASE) ~= ARGV[4] then return {'lost'} end
local n = tonumber(ARGV[5])
local done = num(h[2])
if done + 1 ~= n then return {'stale', done} end
local human = redis.call('LPOP', PEND)
if human then redis.call('RPUSH', MSGS, human) end
if ARGV[6] ~= '' then redis.call('RPUSH', MSGS, ARGV[6]) end
redis.call('LTRIM', MSGS, -tonumber(ARGV[9]), -1)
redis.call('HSET', H, 'done', n)
if num(h[3]) <= n then redis.call('HDEL', H, 'stop') end
local off = emit(ARGV[7], ARGV[8], h[5])
local more = 0
if num(h[4]) > n then more = 1 else redis.call('DEL', LEASE) end
touch()
local acked = 0
if KEYS[8] and more == 0 and type(redis.pcall('XACK', KEYS[8], ARGV[10], ARGV[11])) == 'number' then acked = 1 end
return {'ok', off, more, acked}
`)

// releaseScript gives the lease back if it is still ours. ARGV[4] holder. Returns 1 if released.
var releaseScript = script(`
if redis.call('GET', LEASE) == ARGV[4] then return redis.call('DEL', LEASE) end
return 0
`)
