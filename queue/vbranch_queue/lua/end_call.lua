local id = ARGV[ARG + 1]
local agent, err = known_agent(id)
if err then return err end
if agent.state ~= 'on_call' then return fail('agent_busy', 'agent ' .. id .. ' is not on a call') end
if agent.call_bucket then
  count(agent.call_bucket, 'handled', 1)
  count(agent.call_bucket, 'handle_seconds', NOW - tonumber(agent.call_started_at))
end
redis.call('HDEL', k_agent(id), 'customer', 'call_bucket')
if WRAP_UP <= 0 then return make_available(agent) end
set_state(agent, 'wrap_up')
local wrap_until = fmt(NOW + WRAP_UP)
redis.call('HSET', k_agent(id), 'wrap_until', wrap_until)
redis.call('ZADD', K_WRAP_UPS, wrap_until, id)
return {}
