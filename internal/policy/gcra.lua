-- One request against both windows of a tier, in one atomic step: the Lua
-- twin of window.take in limiter.go and MemoryLimiter.Allow in memory.go.
-- A refused request writes nothing.
--
-- KEYS[1]  the key's hash: r = the rate window's theoretical arrival time
--          (TAT), d = the day window's, in microseconds on the caller's clock
-- ARGV     now, rate t, rate b, day t, day b (µs; t = 0: no such window),
--          slack (ms) added to the key's TTL
-- returns  {ok, remaining, reset, retry} of the rate window, then of the day
local now = tonumber(ARGV[1])

local function take(tat, t, b)
  if t == 0 then
    return 0, {1, 0, 0, 0}
  end
  tat = math.max(tonumber(tat) or 0, now)
  local next = tat + t
  local tau = b * t
  if next - now > tau then
    return tat, {0, 0, tat - now, next - tau - now}
  end
  return next, {1, math.floor((tau - (next - now)) / t), next - now, 0}
end

local tats = redis.call('HMGET', KEYS[1], 'r', 'd')
local r, rate = take(tats[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
local d, day = take(tats[2], tonumber(ARGV[4]), tonumber(ARGV[5]))
if rate[1] == 1 and day[1] == 1 then
  -- %.0f: Lua would print a large number in %.14g and lose microseconds.
  redis.call('HSET', KEYS[1], 'r', string.format('%.0f', r), 'd', string.format('%.0f', d))
  redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(r, d) - now) / 1000) + tonumber(ARGV[6]))
end
return {rate[1], rate[2], rate[3], rate[4], day[1], day[2], day[3], day[4]}
