local offer_id, agent_id = ARGV[ARG + 1], ARGV[ARG + 2]
local offer, err = offer_for(offer_id, agent_id)
if err then return err end
redis.call('HDEL', K_OFFERS, offer_id)
redis.call('ZREM', K_DEADLINES, offer_id)
local customer = load_customer(offer.customer)
redis.call('DEL', k_customer(offer.customer))
local agent = load_agent(agent_id)
set_state(agent_id, agent, 'on_call')
local calls = calls_today(agent) + 1
redis.call('HDEL', k_agent(agent_id), 'offer')
redis.call('HSET', k_agent(agent_id), 'missed', '0', 'call_started_at', fmt(NOW),
  'call_bucket', offer.needs, 'calls_day', DAY, 'calls_today', calls)
local waited = math.max(0, NOW - tonumber(customer.enqueued_at))
count(offer.needs, 'answered', 1)
count(offer.needs, 'answer_seconds', waited)
local _, _, mark = string.match(offer.needs, '^([^|]*)|([^|]*)|([^|]*)$')
local threshold = SERVICE_LEVEL
if mark == 'sl' then threshold = SIGN_SERVICE_LEVEL end
if waited <= threshold then count(offer.needs, 'answered_in_time', 1) end
return { offer.customer, agent_id, offer.needs, fmt(waited) }
