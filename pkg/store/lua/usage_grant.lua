-- usage_grant.lua (Store.Grant, usage.go): add tokens to a day's budget by hand (chatbot usage
-- grant): K is a user's day key (auth.mode jwt, pf '') or a session's hash (mode none, pf
-- 'usage_', which must exist: a session's hash always has a name). The functions are usage.lua's.
-- Returns {'ok', prompt, completion, turns, grant} | {'gone'}.
--
-- KEYS and ARGV:
local K = KEYS[1]                   -- chat:user:{U}:usage:DAY or chat:{T}
local pf = ARGV[1]                  -- the prefix of the usage fields in K
local day = ARGV[2]                 -- the UTC day, YYYY-MM-DD
local tokens = tonumber(ARGV[3])    -- the tokens to add (negative: take back)
local keep = tonumber(ARGV[4])      -- how long the day's record is kept from now, ms; 0 for a session

if pf ~= '' and not redis.call('HGET', K, 'name') then return {'gone'} end
local u = usage_read(K, pf, day, 0, '', false)
u.grant = u.grant + tokens
usage_write(K, pf, day, u, u.fresh, keep)
return {'ok', u.prompt, u.completion, u.turns, u.grant}
