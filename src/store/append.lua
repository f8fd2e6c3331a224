-- Appends events for several jobs atomically, each only if its job is at the expected version.
-- KEYS[1] = stream, KEYS[2] = versions hash. ARGV[1] = number of requests, then per request:
--   job id, expected version, event count, then 7 values per event:
--   type, v, eid, at, corr, cause, data
-- Returns one reply per request: {1, id, id, ...} when appended, {0, actual} on conflict.
local stream, versions = KEYS[1], KEYS[2]
local index_prefix = stream .. ':job:'
local n = tonumber(ARGV[1])
local out = {}
local seen = {}
local i = 2
for r = 1, n do
  local job, expected, count = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local base = i + 3
  i = base + count * 7
  local current = seen[job]
  if current == nil then
    current = tonumber(redis.call('HGET', versions, job) or '0')
  end
  if current ~= expected then
    out[r] = {0, current}
  else
    local reply = {1}
    local ids = {}
    for e = 0, count - 1 do
      local b = base + e * 7
      local id = redis.call('XADD', stream, '*',
        'type', ARGV[b], 'v', ARGV[b + 1], 'job', job, 'ver', tostring(current + e + 1),
        'eid', ARGV[b + 2], 'at', ARGV[b + 3], 'corr', ARGV[b + 4], 'cause', ARGV[b + 5],
        'data', ARGV[b + 6])
      reply[#reply + 1] = id
      ids[#ids + 1] = id
    end
    redis.call('RPUSH', index_prefix .. job, unpack(ids))
    current = current + count
    seen[job] = current
    redis.call('HSET', versions, job, tostring(current))
    out[r] = reply
  end
end
return out
