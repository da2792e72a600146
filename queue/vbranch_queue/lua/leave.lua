-- { abandoned (0/1), offers }
local customer = load_customer(ARGV[ARG + 1])
if customer == nil then return { 0, {} } end
redis.call('DEL', k_customer(customer.id))
count(customer.needs, 'abandoned', 1)
if not customer.offer then
  remove_from_line(customer)
  return { 1, {} }
end
local offer = load_offer(customer.offer)
redis.call('HDEL', K_OFFERS, customer.offer)
redis.call('ZREM', K_DEADLINES, customer.offer)
redis.call('HDEL', k_agent(offer.agent), 'offer', 'customer')
-- Not the agent's fault: no missed offer, straight back to work.
return { 1, make_available(load_agent(offer.agent)) }
