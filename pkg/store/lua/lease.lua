-- lease.lua: renewing a turn's lease (renew_lease.lua, renew_leases.lua put this text before
-- their own, after prelude.lua: exec.go).

-- renew extends holder's lease of the session H to lease_ms from NOW and returns {held 0|1,
-- stop 0|1}: held 0 when the lease is someone else's, or the session is gone; stop 1 when the
-- user asked to stop the turn seq.
local function renew(holder, lease_ms, seq)
  local h = redis.call('HMGET', H, 'lease', 'stop')
  if h[1] ~= holder then return {0, 0} end
  redis.call('HSET', H, 'until', int(NOW + lease_ms))
  local stop = 0
  if num(h[2]) == seq then stop = 1 end
  return {1, stop}
end
