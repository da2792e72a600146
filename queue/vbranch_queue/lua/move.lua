local customer, err = waiting_customer(ARGV[ARG + 1])
if err then return err end
remove_from_line(customer)
customer.needs = ARGV[ARG + 2]
redis.call('HSET', k_customer(customer.id), 'needs', customer.needs)
return place(customer, nil)
