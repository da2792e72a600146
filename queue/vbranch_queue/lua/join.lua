local customer = {
  id = ARGV[ARG + 1], needs = ARGV[ARG + 2], base_priority = ARGV[ARG + 3],
  enqueued_at = ARGV[ARG + 4], score = ARGV[ARG + 5], front = ARGV[ARG + 6],
}
if redis.call('EXISTS', k_customer(customer.id)) == 1 then
  return fail('already_queued', 'customer ' .. customer.id .. ' is already in line')
end
redis.call('HSET', k_customer(customer.id), 'needs', customer.needs,
  'base_priority', customer.base_priority, 'enqueued_at', customer.enqueued_at,
  'score', customer.score, 'front', customer.front)
count(customer.needs, 'joined', 1)
return place(customer, nil)
