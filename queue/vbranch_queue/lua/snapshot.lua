-- Everything a supervisor sees at one instant, as one JSON text: one reply to parse rather than
-- hundreds. The values are the strings Redis holds, so no digit is lost.
local queues = {}
for _, b in ipairs(buckets()) do
  local oldest = redis.call('ZRANGE', k_arrivals(b), 0, 0, 'WITHSCORES')
  queues[#queues + 1] = {
    bucket = b,
    waiting = redis.call('ZCARD', k_line(b)),
    oldest = oldest[2] or '',
    counters = hgetall(k_day(b)) or {},
  }
end
local agents = {}
for _, id in ipairs(redis.call('SMEMBERS', K_AGENTS)) do
  agents[#agents + 1] = load_agent(id)
end
return cjson.encode({ queues = queues, agents = agents })
