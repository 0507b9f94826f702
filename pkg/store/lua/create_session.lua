-- create_session.lua (Store.createSession, session.go; for CreateSession and, with an owner,
-- CreateSessionFor): make a new session's hash and start its TTL. Returns 1.
--
-- KEYS[1..7] and ARGV[1..3]: the session's, named in prelude.lua. Its own ARGV:
local name = ARGV[4]  -- the session's name (validated by the caller)
local start = ARGV[5] -- when the session started, RFC 3339
local owner = ARGV[6] -- the owner's sub (auth.mode jwt), '' for none (auth.mode none)

redis.call('HSET', H, 'name', name, 'start', start, 'seq', 0, 'done', 0)
if owner ~= '' then redis.call('HSET', H, 'user', owner) end
touch()
return 1
