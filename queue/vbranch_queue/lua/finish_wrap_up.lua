local id = ARGV[ARG + 1]
local agent, err = known_agent(id)
if err then return err end
if agent.state ~= 'wrap_up' then
  return fail('agent_busy', 'agent ' .. id .. ' is not in wrap-up')
end
redis.call('ZREM', K_WRAP_UPS, id)
return make_available(agent)
