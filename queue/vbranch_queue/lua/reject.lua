local offer_id, agent_id = ARGV[ARG + 1], ARGV[ARG + 2]
local _, err = offer_for(offer_id, agent_id)
if err then return err end
local agent, offers = take_back(offer_id)
return append(offers, after_miss(agent))
