local customer, err = waiting_customer(ARGV[ARG + 1])
if err then return err end
local agent_id = ARGV[ARG + 2]
local agent
agent, err = known_agent(agent_id)
if err then return err end
if not qualifies(skills(agent), customer.needs) then
  return fail('not_qualified', 'agent ' .. agent_id .. ' does not cover ' .. customer.needs)
end
if agent.state ~= 'available' then
  return fail('agent_busy', 'agent ' .. agent_id .. ' is ' .. agent.state)
end
return make_offer(customer, agent)
