local customer, err = waiting_customer(ARGV[ARG + 1])
if err then return err end
local base_priority = ARGV[ARG + 2]
local score = fmt(queue_score(tonumber(customer.enqueued_at), tonumber(base_priority),
  customer.front == '1'))
redis.call('HSET', k_customer(customer.id), 'base_priority', base_priority, 'score', score)
-- No agent can be free for this line (they would have been offered it), so no offer here.
redis.call('ZADD', k_line(customer.needs), score, customer.id)
return 0
