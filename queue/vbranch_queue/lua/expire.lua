-- Every offer past its deadline, then every wrap-up past its end, oldest first, in one step.
local offers = {}
while true do
  local due = redis.call('ZRANGE', K_DEADLINES, 0, 0, 'WITHSCORES')
  if due[1] == nil or tonumber(due[2]) >= NOW then break end
  local agent, placed = take_back(due[1])
  append(offers, placed)
  append(offers, after_miss(agent))
end
while true do
  local due = redis.call('ZRANGE', K_WRAP_UPS, 0, 0, 'WITHSCORES')
  if due[1] == nil or tonumber(due[2]) > NOW then break end
  redis.call('ZREM', K_WRAP_UPS, due[1])
  append(offers, make_available(load_agent(due[1])))
end
return offers
