-- stop.lua (Store.Stop, send.go): ask the worker to stop the reply being generated: the hash's
-- 'stop' field names the turn (done + 1), which the lease renewals report.
-- Returns the seq asked to stop, 0 when nothing is waiting for a reply, -1 when there is no
-- session.
--
-- KEYS[1..4] and ARGV[1..4]: the session's, named in prelude.lua. No ARGV of its own.

local h = redis.call('HMGET', H, 'name', 'seq', 'done')
if not h[1] then return -1 end
local seq = num(h[2])
local done = num(h[3])
if seq > done then
  redis.call('HSET', H, 'stop', done + 1)
  return done + 1
end
return 0
