-- create_session.lua (Store.createSession, session.go; for CreateSession and, with an owner,
-- CreateSessionFor): make a new session's hash and start its TTL. Returns 1.
--
-- KEYS[1..4] and ARGV[1..4]: the session's, named in prelude.lua. Its own ARGV:
local name = ARGV[5]  -- the session's name (validated by the caller)
local start = ARGV[6] -- when the session started, RFC 3339
local owner = ARGV[7] -- the owner's sub (auth.mode jwt), '' for none (auth.mode none)

local f = {}
put(f, 'name', name)
put(f, 'start', start)
put(f, 'seq', 0)
put(f, 'done', 0)
put(f, 'base', 0)
if owner ~= '' then put(f, 'user', owner) end
put(f, 'expires', int(NOW + TTL))
redis.call('HSET', H, unpack(f))
-- Only the hash exists yet; the other keys get their TTL when they are made.
redis.call('PEXPIRE', H, TTL)
return 1
