-- prelude.lua: the start of every session script (exec.go puts it before the script's own
-- text). It names the KEYS and the first ARGV that every session script gets, and defines the
-- helpers they share: num, put, emit, slide.
--
-- KEYS[1..4]: the session's keys, all on its hash slot, in the order of Keys.SessionKeys.
local H = KEYS[1]    -- chat:{T}: hash of the fields in keys.go's sessionFields
local MSGS = KEYS[2] -- chat:{T}:messages: the history, one JSON message per entry
local PEND = KEYS[3] -- chat:{T}:pending: the messages sent, in order, from seq base + 1 on
local OUT = KEYS[4]  -- chat:{T}:out: the event stream sockets read
-- ARGV[1..4]: the same for every session script; a script's own ARGV start at ARGV[5].
local CHAN = ARGV[1]          -- chat:{T}:notify: the channel every event is announced on
local TTL = tonumber(ARGV[2]) -- the session TTL, ms
local EVMAX = ARGV[3]         -- events kept in OUT (XADD MAXLEN ~)
local NOW = tonumber(ARGV[4]) -- the caller's clock, Unix ms: leases, the rate window, the TTL's slide

-- Names Go shares (lua_test.go checks each equals the pkg/chat constant its comment names).
local EV_TYPE = 't'       -- chat.OutFieldType: an OUT entry's frame type
local EV_BODY = 'e'       -- chat.OutFieldBody: an OUT entry's JSON body
local DELETED = 'deleted' -- chat.NotifyDeleted: announced on CHAN when the session is deleted

-- num reads a counter stored as a string: missing (nil or false) or not a number is 0.
local function num(v) return tonumber(v or '0') or 0 end

-- int writes a number as the integer string Redis stores (Lua would write 1.7e+12).
local function int(v) return string.format('%d', v) end

-- put adds a field and its value to f, the fields a script writes to H in one HSET at its end.
local function put(f, field, v) f[#f + 1] = field; f[#f + 1] = v end

-- emit appends one event to OUT, announces it on CHAN as "prev id type body" (prev is the
-- event before it, last: the hash's 'last' field as the caller read it, false when unset, '-'
-- for none: chat.DecodeNotification reads it) and returns its ID. The caller writes the ID as
-- the hash's new 'last'.
local function emit(typ, body, last)
  local prev = last or '-'
  local id = redis.call('XADD', OUT, 'MAXLEN', '~', EVMAX, '*', EV_TYPE, typ, EV_BODY, body)
  redis.call('PUBLISH', CHAN, prev .. ' ' .. id .. ' ' .. typ .. ' ' .. body)
  return id
end

-- SLIDE_BELOW: the keys' TTL is slid back to TTL once less than this share of it is left (the
-- hash's 'expires' field says when they expire), not on every write: a session expires between
-- 7/8 TTL and TTL after its last activity, and most writes run no PEXPIRE.
local SLIDE_BELOW = 7 / 8

-- slide sets the TTL of every key of the session back to TTL when less than SLIDE_BELOW of it
-- is left (or always, with force), adding the new 'expires' to f.
local function slide(expires, f, force)
  if not force and num(expires) - NOW >= TTL * SLIDE_BELOW then return end
  redis.call('PEXPIRE', H, TTL)
  redis.call('PEXPIRE', MSGS, TTL)
  redis.call('PEXPIRE', PEND, TTL)
  redis.call('PEXPIRE', OUT, TTL)
  put(f, 'expires', int(NOW + TTL))
end

-- base is the seq of the message before PEND[0] (the hash's 'base'): PEND keeps the answered
-- messages until a batch of them is trimmed. A session written before 'base' existed kept
-- only the unanswered ones: base = done.
local function pend_base(base, done) if base then return num(base) end return done end

-- Scripts read the hash's fields they need with one HMGET, 'name' first: a session exists
-- exactly when its hash does, and its hash always has a name.
