-- Reads everything a supervisor sees at one instant: { buckets, agents }, each bucket as
-- { name, waiting, oldest arrival or '', today's counters as a flat hash }, each agent as
-- { id, flat hash }.
local queues = {}
for _, b in ipairs(buckets()) do
  local oldest = redis.call('ZRANGE', k_arrivals(b), 0, 0, 'WITHSCORES')
  queues[#queues + 1] = {
    b, redis.call('ZCARD', k_line(b)), oldest[2] or '', redis.call('HGETALL', k_day(b)),
  }
end
local agents = {}
for _, id in ipairs(redis.call('SMEMBERS', K_AGENTS)) do
  agents[#agents + 1] = { id, redis.call('HGETALL', k_agent(id)) }
end
return { queues, agents }
