-- usage_reserve.lua (Store.reserve, usage.go): auth.mode jwt, before a turn's model call:
-- refuse the turn when the user's budget for the day is spent (used + the live reservations of
-- their other sessions' turns), else reserve the turn's tokens (llm.max_tokens and the prompt's
-- estimate) until the turn settles (usage_settle.lua) or until_ms passes, whichever is first:
-- a worker that dies mid-turn holds them no longer than that, and the next attempt at the
-- session's turn replaces them at once. The functions are usage.lua's.
-- Returns {'ok'} | {'quota'}.
--
-- KEYS (on the user's slot, {U}) and ARGV:
local K = KEYS[1]                   -- chat:user:{U}:usage:DAY
local day = ARGV[1]                 -- the UTC day, YYYY-MM-DD
local now = tonumber(ARGV[2])       -- now, Unix ms
local own = ARGV[3]                 -- the session's reservation field, 'r:' .. its tag
local holder = ARGV[4]              -- the worker attempt
local tokens = tonumber(ARGV[5])    -- the tokens to reserve
local until_ms = tonumber(ARGV[6])  -- when the reservation lapses, Unix ms
local limit = tonumber(ARGV[7])     -- limits.tokens_per_day_per_user
local keep = tonumber(ARGV[8])      -- how long the day's record is kept from now, ms

local u = usage_read(K, '', day, now, own, true)
if usage_spent(u, limit) then return {'quota'} end
usage_reserve(K, '', day, u, own, tokens, until_ms, holder, keep)
return {'ok'}
