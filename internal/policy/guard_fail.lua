-- Counts one failed authentication for an address, a client and their
-- pair, in one atomic step: the Lua twin of lockout.fail in guard.go and
-- MemoryAttempts.Fail in memory.go.
--
-- KEYS[1]  the address's hash, KEYS[2] the client's: f = failures,
--          s = strikes (blocks so far), b = blocked until, e = forgotten at
-- KEYS[3]  the pair: when it is forgotten (the client's e)
-- ARGV     now; block_after, block, max_block, window of the address, then
--          of the client; slack (ms) added to every TTL. Times in µs on the
--          caller's clock.
local now = tonumber(ARGV[1])
local slack = tonumber(ARGV[10])

local function num(x)
  return string.format('%.0f', x)
end

local function ttl(e)
  return math.ceil((e - now) / 1000) + slack
end

local function fail(key, i)
  local after, block, cap, window = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local v = redis.call('HMGET', key, 'f', 's', 'b', 'e')
  local f, s, b = 0, 0, 0
  if (tonumber(v[4]) or 0) > now then
    f, s, b = tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0
  end
  f = f + 1
  if b <= now and f >= after then
    s = s + 1
    local d = block
    for _ = 2, s do
      if d >= cap then
        break
      end
      d = d * 2
    end
    b = now + math.min(d, cap)
  end
  local e = math.max(now, b) + window
  redis.call('HSET', key, 'f', num(f), 's', num(s), 'b', num(b), 'e', num(e))
  redis.call('PEXPIRE', key, ttl(e))
  return e
end

fail(KEYS[1], 2)
local e = fail(KEYS[2], 6)
redis.call('SET', KEYS[3], num(e), 'PX', ttl(e))
return 1
