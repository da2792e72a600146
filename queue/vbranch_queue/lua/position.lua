-- { offered (0/1), place in line (0-based), staffed agents, calls handled today, their seconds }
local customer = load_customer(ARGV[ARG + 1])
if customer == nil then return nil end
if customer.offer then return { 1 } end
local day = k_day(customer.needs)
return {
  0,
  redis.call('ZRANK', k_line(customer.needs), customer.id),
  redis.call('GET', k_staffed(customer.needs)) or '0',
  redis.call('HGET', day, 'handled') or '0',
  redis.call('HGET', day, 'handle_seconds') or '0',
}
