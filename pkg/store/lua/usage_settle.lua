-- usage_settle.lua (Store.settle, usage.go): auth.mode jwt, after a turn's model call: add its
-- tokens and the turn to the user's day, and drop the turn's reservation while it is still
-- holder's. The functions are usage.lua's.
-- Returns 1.
--
-- KEYS (on the user's slot, {U}) and ARGV:
local K = KEYS[1]                   -- chat:user:{U}:usage:DAY
local day = ARGV[1]                 -- the UTC day, YYYY-MM-DD
local prompt = tonumber(ARGV[2])    -- the turn's prompt tokens
local completion = tonumber(ARGV[3]) -- the turn's completion tokens
local own = ARGV[4]                 -- the session's reservation field, 'r:' .. its tag
local holder = ARGV[5]              -- the worker attempt that made the calls
local keep = tonumber(ARGV[6])      -- how long the day's record is kept from now, ms

usage_settle(K, '', day, prompt, completion, own, holder, keep)
return 1
