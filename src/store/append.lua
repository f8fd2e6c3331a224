-- Appends events for several jobs atomically, each only if its job is at the expected version.
-- A job's version is the length of its index list (`<stream>:job:<id>`, its stream ids), so the
-- check and the index are one key and one write.
-- KEYS[1] = stream, KEYS[2] = the writer lease. ARGV[1] = the caller's lease value ('' when
-- not fenced), ARGV[2] = its time to live (ms), ARGV[3] = the caller's floor: the newest entry
-- it appended or read ('' for none), ARGV[4] = number of requests, then per request:
--   job id, expected version, event count, replaced count, then 7 values per event:
--   type, v, eid, at, corr, cause, data; then the stream ids of the entries it replaces
-- A request whose last event is a `JobRetired` deletes the job's other entries and its index; one
-- that names replaced entries deletes those. Neither leaves its job an index.
-- Returns one reply per request: {1, id, id, ...} when appended, {0, actual} on conflict; an
-- error `FENCED held by <value>` and nothing appended when another process holds the lease; an
-- error `REWOUND <last id or none>` and nothing appended when the stream ends before the floor
-- (Redis lost data: restarted empty, or from an AOF or snapshot older than the caller's view).
local stream = KEYS[1]
local floor = ARGV[3]
if floor ~= '' then
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  local behind = last == nil
  if not behind then
    local lm, ls = string.match(last[1], '(%d+)-(%d+)')
    local fm, fs = string.match(floor, '(%d+)-(%d+)')
    lm, ls, fm, fs = tonumber(lm), tonumber(ls), tonumber(fm), tonumber(fs)
    behind = lm < fm or (lm == fm and ls < fs)
  end
  if behind then
    return redis.error_reply('REWOUND ' .. (last and last[1] or 'none'))
  end
end
local lease = ARGV[1]
if lease ~= '' then
  local holder = redis.call('GET', KEYS[2])
  if not holder then
    -- Expired and nobody took it (a long outage): the caller's again, as a renewal would.
    redis.call('SET', KEYS[2], lease, 'PX', ARGV[2])
  elseif holder ~= lease then
    return redis.error_reply('FENCED held by ' .. holder)
  end
end
local index_prefix = stream .. ':job:'
local n = tonumber(ARGV[4])
local out = {}
local i = 5
for r = 1, n do
  local job, expected, count = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local replaced = tonumber(ARGV[i + 3])
  local base = i + 4
  local replaced_at = base + count * 7
  i = replaced_at + replaced
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
    if ARGV[base + (count - 1) * 7] == 'JobRetired' then
      -- Retention: the summary just appended replaces the job's earlier entries, in this same
      -- step, so the log never holds both nor neither; the job's index goes with them.
      local old = redis.call('LRANGE', index, 0, -1)
      for e = 2, count do old[#old + 1] = reply[e] end
      if #old > 0 then redis.call('XDEL', stream, unpack(old)) end
      redis.call('DEL', index)
    elseif replaced > 0 then
      -- The entries named (summaries summed into the one just appended) go in this step too.
      redis.call('XDEL', stream, unpack(ARGV, replaced_at, replaced_at + replaced - 1))
    else
      redis.call('RPUSH', index, unpack(reply, 2))
    end
    out[r] = reply
  end
end
return out
