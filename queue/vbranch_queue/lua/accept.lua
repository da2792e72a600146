-- { customer, agent, bucket, waited seconds }
local offer_id, agent_id = ARGV[ARG + 1], ARGV[ARG + 2]
local offer, err = offer_for(offer_id, agent_id)
if err then return err end
redis.call('HDEL', K_OFFERS, offer_id)
redis.call('ZREM', K_DEADLINES, offer_id)
local customer = load_customer(offer.customer)
redis.call('DEL', k_customer(customer.id))
local agent = load_agent(agent_id)
set_state(agent, 'on_call')
redis.call('HDEL', k_agent(agent_id), 'offer')
redis.call('HSET', k_agent(agent_id), 'missed', '0', 'call_started_at', fmt(NOW),
  'call_bucket', offer.needs, 'calls_day', DAY, 'calls_today', calls_today(agent) + 1)
local waited = math.max(0, NOW - tonumber(customer.enqueued_at))
count(offer.needs, 'answered', 1)
count(offer.needs, 'answer_seconds', waited)
local _, _, sign_language = needs_of(offer.needs)
local threshold = SERVICE_LEVEL
if sign_language then threshold = SIGN_SERVICE_LEVEL end
if waited <= threshold then count(offer.needs, 'answered_in_time', 1) end
return { customer.id, agent_id, offer.needs, fmt(waited) }
