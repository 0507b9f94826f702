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
local EV_CAPS = ARGV[3]       -- "N B": OUT keeps at most N events and B bytes (session.events_max, _bytes)
local NOW = tonumber(ARGV[4]) -- the caller's clock, Unix ms: leases, the rate window, the TTL's slide

-- caps reads a "count bytes" argument (Store.caps): two caps on what a key keeps.
local function caps(arg)
  local n, b = string.match(arg, '^(%d+) (%d+)$')
  return tonumber(n), tonumber(b)
end
local EVMAX, EVMAX_BYTES = caps(EV_CAPS)

-- Names Go shares (lua_test.go checks each equals the pkg/chat constant its comment names).
local EV_TYPE = 't'       -- chat.OutFieldType: an OUT entry's frame type
local EV_BODY = 'e'       -- chat.OutFieldBody: an OUT entry's JSON body
local DELETED = 'deleted' -- chat.NotifyDeleted: announced on CHAN when the session is deleted
local EV_DELTA = 'delta'  -- chat.FrameDelta: an event a stored reply deletes

-- QUEUED is the 'lease' of a session whose worker let others have its slot and put its request
-- back at the end of the stream (release_lease.lua): until 'until', a message sent to it queues
-- no request (send.lua sees a lease held), and the first turn begun takes it as if free
-- (begin_turn.lua). No worker attempt is named so (they are "consumer/nonce/n").
local QUEUED = 'queued'

-- num reads a counter stored as a string: missing (nil or false) or not a number is 0.
local function num(v) return tonumber(v or '0') or 0 end

-- int writes a number as the integer string Redis stores (Lua would write 1.7e+12).
local function int(v) return string.format('%d', v) end

-- put adds a field and its value to f, the fields a script writes to H in one HSET at its end.
local function put(f, field, v) f[#f + 1] = field; f[#f + 1] = v end

-- emit appends one event to OUT, announces it on CHAN as "prev id type body" (prev is the
-- event before it, last: OUT's newest event as newest gives it, false for none, '-' then:
-- chat.DecodeNotification reads it) and returns its ID. The caller writes the ID as the
-- hash's new 'last', but for a lease holder's delta.
local function emit(typ, body, last)
  local prev = last or '-'
  local id = redis.call('XADD', OUT, '*', EV_TYPE, typ, EV_BODY, body)
  redis.call('PUBLISH', CHAN, prev .. ' ' .. id .. ' ' .. typ .. ' ' .. body)
  return id
end

-- The hash's 'last' is OUT's newest event but while a turn streams: a lease holder's delta
-- writes no 'last' (one HSET less for every delta) and sets 'deltas' to '1' instead, once a
-- turn; the step that stores the turn sets it back to '0'. Meanwhile the newest event is the
-- later of 'last' and the holder's own previous delta (the worker passes it: only others'
-- events write 'last'), or, for anyone else, OUT's tail.
local STREAMING, STORED = '1', '0' -- the values of 'deltas'

-- later is the later of two event IDs ("ms-seq"), either false or '' for none.
local function later(a, b)
  if not a or a == '' then return b end
  if not b or b == '' then return a end
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, bm = tonumber(am), tonumber(bm)
  if am > bm or (am == bm and tonumber(as) > tonumber(bs)) then return a end
  return b
end

-- newest is OUT's newest event's ID (false for none), given the hash's 'last' and 'deltas'.
local function newest(last, deltas)
  if deltas ~= STREAMING then return last end
  local e = redis.call('XREVRANGE', OUT, '+', '-', 'COUNT', 1)
  if e[1] then return e[1][1] end
  return false
end

-- emit_delta writes a delta event of holder's turn seq, only while holder has the lease, and
-- returns its ID; {ID} (the ID in an array of one) when the user has asked to stop the turn
-- (stop.lua): the worker sees a stop with its next delta, not only with its next renewal
-- (renew); false when the session is gone or the lease is someone else's. prev is the ID of
-- the delta holder wrote before, '' for none or not known. A lease holder's delta is counted
-- in neither 'ev_n' nor 'ev_bytes': the step that stores its reply deletes it (one written
-- outside a lease, emit.lua, is counted like any other event). emit_deltas.lua calls it for
-- many sessions in turn, H, OUT and CHAN set to each one's.
local function emit_delta(holder, prev, body, seq)
  local h = redis.call('HMGET', H, 'name', 'last', 'lease', 'deltas', 'stop')
  if not h[1] or h[3] ~= holder then return false end
  local before
  if prev ~= '' then before = later(h[2], prev) else before = newest(h[2], h[4]) end
  local id = emit(EV_DELTA, body, before)
  if h[4] ~= STREAMING then redis.call('HSET', H, 'deltas', STREAMING) end
  if h[5] and num(h[5]) == seq then return {id} end
  return id
end

-- Stored bytes per session (session.history_max_bytes, session.events_max_bytes): the hash's
-- 'hist_bytes' is the bytes of the history's entries, 'ev_n' the events in OUT but the deltas
-- of replies in progress, and 'ev_bytes' the bytes of those but deltas (type and body: the
-- reply that ends a turn deletes its deltas, so they never add up). The scripts that add
-- entries count them and drop the oldest when over a cap, in the same step and the same HMGET
-- and HSET: no round trip, no command more, and a read of the oldest entries only when some
-- are dropped.

-- ev_size is what an event counts in 'ev_bytes'.
local function ev_size(typ, body)
  if typ == EV_DELTA then return 0 end
  return #typ + #body
end

-- trim_batch is how many of the oldest entries a trim reads next: those the count cap drops
-- (over, at least one) the first time, twice as many as the last read each time after (the
-- bytes cap still binds), at most 64. A session at its cap drops one entry a step: reading
-- one, not 64 (each converted to Lua), is most of what the step costs Redis then.
local function trim_batch(over, last)
  if last then return math.min(last * 2, 64) end
  return math.min(math.max(over, 1), 64)
end

-- trim_out drops OUT's oldest events (never the newest) while it holds more than EVMAX of
-- them or more than EVMAX_BYTES counted, given n and bytes (with the newest event), and
-- returns what is left of both.
local function trim_out(n, bytes)
  local drop, start, want = {}, '-', nil
  while n > 1 and (n > EVMAX or bytes > EVMAX_BYTES) do
    want = trim_batch(n - EVMAX, want)
    local batch = redis.call('XRANGE', OUT, start, '+', 'COUNT', want)
    if #batch == 0 then break end
    for _, e in ipairs(batch) do
      if n <= 1 or (n <= EVMAX and bytes <= EVMAX_BYTES) then break end
      bytes = bytes - ev_size(e[2][2], e[2][4]) -- the fields as emit writes them: t, type, e, body
      n = n - 1
      drop[#drop + 1] = e[1]
    end
    start = '(' .. batch[#batch][1]
  end
  for i = 1, #drop, 1000 do
    redis.call('XDEL', OUT, unpack(drop, i, math.min(i + 999, #drop)))
  end
  return n, math.max(bytes, 0)
end

-- count_event counts the event (typ, body) just emitted into f's 'ev_n' and 'ev_bytes', given
-- the hash's values before it (n false: a session older than 'ev_n', whose OUT is counted),
-- dropping the oldest events when over a cap.
local function count_event(f, typ, body, n, bytes)
  local events
  if n then events = num(n) + 1 else events = redis.call('XLEN', OUT) end
  events, bytes = trim_out(events, num(bytes) + ev_size(typ, body))
  put(f, 'ev_n', events)
  put(f, 'ev_bytes', bytes)
end

-- trim_history drops the history's oldest entries while it holds more than max_n entries or
-- more than max_bytes, given its length and bytes after the newest keep were added (those
-- stay), and returns the bytes left and the entries dropped.
local function trim_history(len, bytes, max_n, max_bytes, keep)
  local drop, want = 0, nil
  while len - drop > keep and (len - drop > max_n or bytes > max_bytes) do
    want = trim_batch(len - drop - max_n, want)
    local batch = redis.call('LRANGE', MSGS, drop, drop + want - 1)
    if #batch == 0 then break end
    for _, m in ipairs(batch) do
      if len - drop <= keep or (len - drop <= max_n and bytes <= max_bytes) then break end
      bytes = bytes - #m
      drop = drop + 1
    end
  end
  if drop > 0 then redis.call('LTRIM', MSGS, drop, -1) end
  return math.max(bytes, 0), drop
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
