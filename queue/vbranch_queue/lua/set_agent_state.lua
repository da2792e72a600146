local id, state = ARGV[ARG + 1], ARGV[ARG + 2]
local agent, err = known_agent(id)
if err then return err end
if agent.state == 'on_call' then return fail('agent_busy', 'agent ' .. id .. ' is on a call') end
if state == 'available' then
  if agent.state == 'available' or agent.state == 'offered' then return {} end
  if agent.state == 'wrap_up' then redis.call('ZREM', K_WRAP_UPS, id) end
  redis.call('HSET', k_agent(id), 'missed', '0')
  return make_available(agent)
end
local offers = {}
if agent.state == 'offered' then
  -- Stepping away with an offer open hands the customer on; it is not a missed offer.
  agent, offers = take_back(agent.offer)
elseif agent.state == 'wrap_up' then
  redis.call('ZREM', K_WRAP_UPS, id)
end
set_state(agent, state)
return offers
