-- delete_session.lua (Store.deleteSession, session.go; for DeleteSession and DeleteSessionOf):
-- remove every key of the session and tell its sockets (DELETED on CHAN). A session of someone
-- else than the caller is left alone. Returns 1 if the session existed (and was the caller's),
-- 0 otherwise.
--
-- KEYS[1..4] and ARGV[1..4]: the session's, named in prelude.lua. Its own ARGV:
local caller = ARGV[5] -- the caller's sub (auth.mode jwt), '' for anyone (auth.mode none)

if caller ~= '' and redis.call('HGET', H, 'user') ~= caller then return 0 end
local existed = redis.call('EXISTS', H)
redis.call('DEL', H, MSGS, PEND, OUT)
if existed == 1 then redis.call('PUBLISH', CHAN, DELETED) end
return existed
