-- prelude.lua: the start of every session script (exec.go puts it before the script's own
-- text). It names the KEYS and the first ARGV that every session script gets, and defines the
-- helpers they share: touch, emit, num.
--
-- KEYS[1..7]: the session's keys, all on its hash slot, in the order of Keys.SessionKeys.
local H = KEYS[1]     -- chat:{T}: hash of the fields in keys.go's sessionFields
local MSGS = KEYS[2]  -- chat:{T}:messages: the history, one JSON message per entry
local PEND = KEYS[3]  -- chat:{T}:pending: messages sent but not yet answered, in order
local OUT = KEYS[4]   -- chat:{T}:out: the event stream sockets read
local CLI = KEYS[5]   -- chat:{T}:clients: client_id -> "seq id offset" of its message
local RATE = KEYS[6]  -- chat:{T}:rate: messages sent in the current minute
local LEASE = KEYS[7] -- chat:{T}:lease: the worker attempt working on the session
-- ARGV[1..3]: the same for every session script; a script's own ARGV start at ARGV[4].
local CHAN = ARGV[1]  -- chat:{T}:notify: the channel every event is announced on
local TTL = ARGV[2]   -- the session TTL, ms
local EVMAX = ARGV[3] -- events kept in OUT (XADD MAXLEN ~)

-- Names Go shares (lua_test.go checks each equals the pkg/chat constant its comment names).
local EV_TYPE = 't'       -- chat.OutFieldType: an OUT entry's frame type
local EV_BODY = 'e'       -- chat.OutFieldBody: an OUT entry's JSON body
local DELETED = 'deleted' -- chat.NotifyDeleted: announced on CHAN when the session is deleted

-- touch slides the session TTL of the keys that live as long as the session (RATE and LEASE
-- keep their own).
local function touch()
  redis.call('PEXPIRE', H, TTL)
  redis.call('PEXPIRE', MSGS, TTL)
  redis.call('PEXPIRE', PEND, TTL)
  redis.call('PEXPIRE', OUT, TTL)
  redis.call('PEXPIRE', CLI, TTL)
end

-- emit appends one event to OUT, announces it on CHAN as "prev id type body" (prev is the
-- event before it, '-' for none: chat.DecodeNotification reads it) and returns its ID. last is
-- the hash's 'last' field when the caller read it already (HMGET: false when unset), nil
-- otherwise.
local function emit(typ, body, last)
  if last == nil then last = redis.call('HGET', H, 'last') end
  local prev = last or '-'
  local id = redis.call('XADD', OUT, 'MAXLEN', '~', EVMAX, '*', EV_TYPE, typ, EV_BODY, body)
  redis.call('HSET', H, 'last', id)
  redis.call('PUBLISH', CHAN, prev .. ' ' .. id .. ' ' .. typ .. ' ' .. body)
  return id
end

-- num reads a counter stored as a string: missing (nil or false) or not a number is 0.
local function num(v) return tonumber(v or '0') or 0 end

-- Scripts read the hash's fields they need with one HMGET, 'name' first: a session exists
-- exactly when its hash does, and its hash always has a name.
