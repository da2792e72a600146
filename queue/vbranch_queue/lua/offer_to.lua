local customer_id, agent_id = ARGV[ARG + 1], ARGV[ARG + 2]
local customer, err = waiting_customer(customer_id)
if err then return err end
local agent
agent, err = known_agent(agent_id)
if err then return err end
if not qualifies(skills(agent), customer.needs) then
  return fail('not_qualified', 'agent ' .. agent_id .. ' does not cover ' .. customer.needs)
end
if agent.state ~= 'available' then
  return fail('agent_busy', 'agent ' .. agent_id .. ' is ' .. agent.state)
end
return make_offer(customer_id, customer, agent_id, agent)
