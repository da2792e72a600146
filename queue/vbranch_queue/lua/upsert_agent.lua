local id = ARGV[ARG + 1]
local new = { categories = ARGV[ARG + 2], languages = ARGV[ARG + 3], sign = ARGV[ARG + 4] }
local agent = load_agent(id)
if agent == nil then
  redis.call('HSET', k_agent(id), 'categories', new.categories, 'languages', new.languages,
    'sign', new.sign, 'state', 'offline', 'since', fmt(NOW), 'idle_since', '0', 'idle_score', '0',
    'missed', '0', 'calls_day', '-1', 'calls_today', '0')
  redis.call('SADD', K_AGENTS, id)
  return {}
end
if STAFFED[agent.state] then
  restaff(skills(agent), -1)
  restaff(skills(new), 1)
end
if agent.state == 'available' then leave_idle_sets(agent) end
redis.call('HSET', k_agent(id), 'categories', new.categories, 'languages', new.languages,
  'sign', new.sign)
if agent.state == 'available' then
  -- New skills may cover someone already waiting: look for work as if just become available.
  return make_available(load_agent(id))
end
return {}
