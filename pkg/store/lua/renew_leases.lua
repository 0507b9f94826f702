-- renew_leases.lua (Store.RenewLeases, turn.go): renew the leases of many turns in one step
-- (renew, lease.lua). On a single Redis only: the sessions' keys are on any slot.
-- Returns, in order, each turn's {held 0|1, stop 0|1}, as renew_lease.lua does.
--
-- KEYS[1..4] and ARGV[1..4]: the first turn's session's, named in prelude.lua. Its own KEYS
-- and ARGV, for each turn i from 0: KEYS[5 + i], its session's hash; ARGV[5 + 3i],
-- ARGV[6 + 3i] and ARGV[7 + 3i], the worker attempt working on it, the lease's new time left
-- (ms) and the turn's seq. The prelude's H is set to each turn's session in turn: renew works
-- on it.
local out = {}
for i = 0, #KEYS - 5 do
  H = KEYS[5 + i]
  out[i + 1] = renew(ARGV[5 + 3 * i], tonumber(ARGV[6 + 3 * i]), tonumber(ARGV[7 + 3 * i]))
end
return out
