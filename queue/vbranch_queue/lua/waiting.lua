-- The first customers of one line as JSON: [[id, base priority, enqueued at], ...].
local b, last = ARGV[ARG + 1], ARGV[ARG + 2]
local rows = {}
for _, id in ipairs(redis.call('ZRANGE', k_line(b), 0, last)) do
  local fields = redis.call('HMGET', k_customer(id), 'base_priority', 'enqueued_at')
  rows[#rows + 1] = { id, fields[1], fields[2] }
end
return cjson.encode(rows)
