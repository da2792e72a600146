-- The first customers of one line, flat: id, base priority, enqueued at, ...
local b, last = ARGV[ARG + 1], tonumber(ARGV[ARG + 2])
local rows = {}
for _, id in ipairs(redis.call('ZRANGE', k_line(b), 0, last)) do
  local fields = redis.call('HMGET', k_customer(id), 'base_priority', 'enqueued_at')
  rows[#rows + 1] = id
  rows[#rows + 1] = fields[1]
  rows[#rows + 1] = fields[2]
end
return rows
