local id, needs = ARGV[ARG + 1], ARGV[ARG + 2]
local customer, err = waiting_customer(id)
if err then return err end
remove_from_line(id, customer)
customer.needs = needs
redis.call('HSET', k_customer(id), 'needs', needs)
return place(id, customer, nil)
