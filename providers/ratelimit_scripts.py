"""The Redis scripts behind :mod:`providers.ratelimit`.

Each limiter operation is one Lua script, so it is atomic across processes and hosts; the
scripts read the clock with Redis ``TIME`` so hosts with skewed clocks still agree. Keys and
arguments are described above each script.
"""

# The token-bucket step, shared by two scripts. Expects ``now`` (s), ``rate`` (tokens/s),
# ``burst``, ``max_wait`` (s) and ``bucket`` (key); leaves ``wait`` (s), or returns
# {2, wait} without reserving when the token would not be due within ``max_wait``.
BUCKET_STEP = """
local state = redis.call('HMGET', bucket, 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local wait = 0
if tokens < 1 then
  wait = (1 - tokens) / rate
end
if wait > max_wait then
  return {2, string.format('%.6f', wait)}
end
tokens = tokens - 1
redis.call('HSET', bucket, 'tokens', string.format('%.6f', tokens), 'ts', string.format('%.6f', ts))
-- The key can go once the bucket would have refilled: a missing key means "full".
redis.call('PEXPIRE', bucket, math.ceil(((burst - tokens) / rate + 1) * 1000))
"""

# KEYS[1] bucket hash. ARGV: rate (tokens/s), burst, max_wait (s).
# Returns {1 reserved | 2 too far, wait seconds as a string} (a Lua number would be truncated).
BUCKET_LUA = (
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local bucket = KEYS[1]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
"""
    + BUCKET_STEP
    + """
return {1, string.format('%.6f', wait)}
"""
)

# A slot and a token in one round trip, atomically: the slot is only taken with a token.
# KEYS[1] lease set, KEYS[2] bucket, optional KEYS[3] guard. ARGV: limit (0 = none), lease
# (ms), token, rate (0 = none), burst, max_wait (s). Returns {0 no slot | 1 admitted | 2 too
# far, wait | 3 the guard key exists: nothing taken}.
ADMIT_LUA = (
    """
if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 1 then
  return {3, '0'}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
if limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
  if redis.call('ZCARD', KEYS[1]) >= limit then
    return {0, '0'}
  end
end
local bucket = KEYS[2]
local rate = tonumber(ARGV[4])
local burst = tonumber(ARGV[5])
local max_wait = tonumber(ARGV[6])
local wait = 0
if rate > 0 then
"""
    + BUCKET_STEP.replace("local wait = 0\n", "")
    + """
end
if limit > 0 then
  local expires = now_ms + tonumber(ARGV[2])
  redis.call('ZADD', KEYS[1], expires, ARGV[3])
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[1], math.max(expires, tonumber(last[2])) + 1000)
end
return {1, string.format('%.6f', wait)}
"""
)

# KEYS[1] sorted set token -> lease expiry (ms). ARGV: limit, lease (ms), token. Returns 1|0.
SLOT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
local expires = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], expires, ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], math.max(expires, tonumber(last[2])) + 1000)
return 1
"""

# KEYS[1] lease set, KEYS[2] freed list. ARGV: token, limit. Each release wakes one waiter;
# the list is trimmed to ``limit`` so wake-ups nobody was waiting for stay few.
RELEASE_LUA = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[2], '1')
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
  redis.call('PEXPIRE', KEYS[2], 60000)
end
return 1
"""

# KEYS[1] hash UTC-day-number -> calls. ARGV: limit. Returns {allowed 0|1, used, day}.
QUOTA_TAKE_LUA = """
local t = redis.call('TIME')
local day = tostring(math.floor(tonumber(t[1]) / 86400))
local used = tonumber(redis.call('HGET', KEYS[1], day) or '0')
if used >= tonumber(ARGV[1]) then
  return {0, used, day}
end
used = redis.call('HINCRBY', KEYS[1], day, 1)
-- Keep yesterday's counter (a refund may still arrive for it), drop older ones.
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if tonumber(field) < tonumber(day) - 1 then
    redis.call('HDEL', KEYS[1], field)
  end
end
redis.call('EXPIRE', KEYS[1], 172800)
return {1, used, day}
"""

# KEYS[1] quota hash. ARGV: day. A refund never takes a counter below zero.
QUOTA_REFUND_LUA = """
local used = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if used > 0 then
  redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
end
return 1
"""

QUOTA_USED_LUA = """
local t = redis.call('TIME')
local day = tostring(math.floor(tonumber(t[1]) / 86400))
return tonumber(redis.call('HGET', KEYS[1], day) or '0')
"""
