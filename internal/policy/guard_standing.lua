-- Reads what an attempt is judged by (RedisAttempts.Standing): f, b and e
-- of the address's hash (KEYS[1]) and the client's (KEYS[2]), and when the
-- pair (KEYS[3]) is forgotten; 0 for what is absent.
local function n(x)
  return tonumber(x) or 0
end
local a = redis.call('HMGET', KEYS[1], 'f', 'b', 'e')
local c = redis.call('HMGET', KEYS[2], 'f', 'b', 'e')
return {n(a[1]), n(a[2]), n(a[3]), n(c[1]), n(c[2]), n(c[3]), n(redis.call('GET', KEYS[3]))}
