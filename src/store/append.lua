-- Appends events for several jobs atomically, each only if its job is at the expected version.
-- A job's version is the length of its index list (`<stream>:job:<id>`, its stream ids), so the
-- check and the index are one key and one write.
-- KEYS[1] = stream. ARGV[1] = number of requests, then per request:
--   job id, expected version, event count, then 7 values per event:
--   type, v, eid, at, corr, cause, data
-- Returns one reply per request: {1, id, id, ...} when appended, {0, actual} on conflict.
local stream = KEYS[1]
local index_prefix = stream .. ':job:'
local n = tonumber(ARGV[1])
local out = {}
local i = 2
for r = 1, n do
  local job, expected, count = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local base = i + 3
  i = base + count * 7
  local index = index_prefix .. job
  local current = redis.call('LLEN', index)
  if current ~= expected then
    out[r] = {0, current}
  else
    local reply = {1}
    for e = 0, count - 1 do
      local b = base + e * 7
      reply[e + 2] = redis.call('XADD', stream, '*',
        'type', ARGV[b], 'v', ARGV[b + 1], 'job', job, 'ver', tostring(current + e + 1),
        'eid', ARGV[b + 2], 'at', ARGV[b + 3], 'corr', ARGV[b + 4], 'cause', ARGV[b + 5],
        'data', ARGV[b + 6])
    end
    redis.call('RPUSH', index, unpack(reply, 2))
    out[r] = reply
  end
end
return out
