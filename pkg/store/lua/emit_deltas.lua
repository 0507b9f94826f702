-- emit_deltas.lua (Store.EmitDeltas, turn.go): write the delta events of many turns in one
-- step, each only while its turn's holder has the lease (emit_delta, prelude.lua). On a single
-- Redis only: the sessions' keys are on any slot.
-- Returns, in order, each delta's event ID ({ID} when the user asked to stop its turn), or
-- false where the session is gone or the lease is someone else's (emit_delta).
--
-- KEYS[1..4] and ARGV[1..4]: the first delta's session's, named in prelude.lua. Its own KEYS
-- and ARGV, for each delta i from 0: KEYS[5 + 2i] and KEYS[6 + 2i], its session's hash and
-- event stream; ARGV[5 + 5i] to ARGV[9 + 5i], its session's notify channel, the worker
-- attempt writing, its turn's seq, the ID of the delta it wrote before ('' for none or not
-- known), and the event's JSON body. The prelude's H, OUT and CHAN are set to each delta's
-- session in turn: emit_delta writes to them.
local ids = {}
for i = 0, (#KEYS - 6) / 2 do
  local a = 5 + 5 * i
  H, OUT, CHAN = KEYS[5 + 2 * i], KEYS[6 + 2 * i], ARGV[a]
  local holder, seq, prev, body = ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3], ARGV[a + 4]
  ids[i + 1] = emit_delta(holder, prev, body, seq)
end
return ids
