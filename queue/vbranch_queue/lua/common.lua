-- Prepended to every script at load time. The Python side sends the same header first in ARGV:
-- the key prefix, the clock, the day number (computed in Python, so both stores agree on the
-- day boundary) and the routing configuration. Keys are derived here rather than passed in KEYS
-- because the buckets an event touches are only known inside the script: one Redis node, no cluster.
-- Numbers travel as strings, written with %.17g (Python sends repr()), so no digit is ever lost.
local P = ARGV[1]
local NOW = tonumber(ARGV[2])
local DAY = ARGV[3]
local OFFER_TIMEOUT = tonumber(ARGV[4])
local WRAP_UP = tonumber(ARGV[5])
local MAX_MISSED = tonumber(ARGV[6])
local STEP = tonumber(ARGV[7])
local LEAST_BUSY = ARGV[8] == '1'
local SERVICE_LEVEL = tonumber(ARGV[9])
local SIGN_SERVICE_LEVEL = tonumber(ARGV[10])
local FRONT_SECONDS = tonumber(ARGV[11])
local ARG = 11 -- a script's own arguments are ARGV[ARG + 1], ...

-- core.stats.STAFFED_STATES: who counts toward a line's estimated wait.
local STAFFED = { available = true, offered = true, on_call = true, wrap_up = true }

local function fmt(x)
  return string.format('%.17g', x)
end

local K_BUCKETS = P .. 'buckets'
local K_AGENTS = P .. 'agents'
local K_OFFERS = P .. 'offers'
local K_DEADLINES = P .. 'deadlines'
local K_WRAP_UPS = P .. 'wrap_ups'
local K_SEQUENCE = P .. 'offer_seq'
local function k_line(b) return P .. 'line:' .. b end
local function k_arrivals(b) return P .. 'arrivals:' .. b end
local function k_idle(b) return P .. 'idle:' .. b end
local function k_staffed(b) return P .. 'staffed:' .. b end
local function k_customer(id) return P .. 'customer:' .. id end
local function k_agent(id) return P .. 'agent:' .. id end
local function k_day(b) return P .. 'day:' .. DAY .. ':' .. b end

local function fail(code, message)
  return redis.error_reply(code .. ' ' .. message)
end

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

-- An agent or a customer as a table of their hash's fields, plus their id.
local function load(key_of, id)
  local record = hgetall(key_of(id))
  if record ~= nil then record.id = id end
  return record
end
local function load_agent(id) return load(k_agent, id) end
local function load_customer(id) return load(k_customer, id) end

local function load_offer(id)
  local raw = redis.call('HGET', K_OFFERS, id)
  if not raw then return nil end
  return cjson.decode(raw)
end

-- Redis orders equal scores by the member's bytes; Lua's < on strings follows the C locale.
local function bytes_less(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local BUCKETS = nil
local function buckets()
  if BUCKETS == nil then BUCKETS = redis.call('SMEMBERS', K_BUCKETS) end
  return BUCKETS
end

local function skill_set(json)
  local set = {}
  for _, name in ipairs(cjson.decode(json)) do set[name] = true end
  return set
end

-- Skills are stored as JSON arrays of names, so a name may hold any character.
local function skills(agent)
  if agent._skills == nil then
    agent._skills = {
      categories = skill_set(agent.categories),
      languages = skill_set(agent.languages),
      sign = agent.sign == '1',
    }
  end
  return agent._skills
end

-- A bucket name, "category|language|sl-or-dash" (core.model.Needs.bucket), as its needs.
local function needs_of(bucket)
  local category, language, mark = string.match(bucket, '^([^|]*)|([^|]*)|([^|]*)$')
  return category, language, mark == 'sl'
end

-- core.model.qualifies.
local function qualifies(sk, bucket)
  local category, language, sign_language = needs_of(bucket)
  return sk.categories[category] == true
    and sk.languages[language] == true
    and (sk.sign or not sign_language)
end

local function calls_today(agent)
  if agent.calls_day == DAY then return tonumber(agent.calls_today) end
  return 0
end

-- core.priority.idle_score, with the same floating point operations. Least-busy counts today's
-- calls only, as idle_score intends (the memory store counts those of the last day with a call).
local function idle_score(agent)
  if LEAST_BUSY then return calls_today(agent) * 1e10 + tonumber(agent.idle_since) end
  return tonumber(agent.idle_since)
end

-- core.priority.queue_score.
local function queue_score(enqueued_at, base_priority, front)
  local score = enqueued_at - base_priority * STEP
  if front then score = score - FRONT_SECONDS end
  return score
end

local function count(b, counter, amount)
  local key = k_day(b)
  local value = tonumber(redis.call('HGET', key, counter) or '0') + amount
  redis.call('HSET', key, counter, fmt(value))
end

local function append(list, items)
  for _, item in ipairs(items) do list[#list + 1] = item end
  return list
end

-- A line seen for the first time (rare): index the agents who already qualify for it. The only
-- place a script reads every agent.
local function ensure_bucket(b)
  if redis.call('SADD', K_BUCKETS, b) == 0 then return end
  if BUCKETS ~= nil then BUCKETS[#BUCKETS + 1] = b end
  for _, id in ipairs(redis.call('SMEMBERS', K_AGENTS)) do
    local agent = load_agent(id)
    if qualifies(skills(agent), b) then
      if STAFFED[agent.state] then redis.call('INCRBY', k_staffed(b), 1) end
      if agent.state == 'available' then redis.call('ZADD', k_idle(b), agent.idle_score, id) end
    end
  end
end

local function restaff(sk, change)
  for _, b in ipairs(buckets()) do
    if qualifies(sk, b) then redis.call('INCRBY', k_staffed(b), change) end
  end
end

local function leave_idle_sets(agent)
  for _, b in ipairs(buckets()) do redis.call('ZREM', k_idle(b), agent.id) end
end

local function set_state(agent, state)
  if agent.state == 'available' then leave_idle_sets(agent) end
  local change = (STAFFED[state] and 1 or 0) - (STAFFED[agent.state] and 1 or 0)
  if change ~= 0 then restaff(skills(agent), change) end
  agent.state = state
  redis.call('HSET', k_agent(agent.id), 'state', state, 'since', fmt(NOW))
end

local function remove_from_line(customer)
  redis.call('ZREM', k_line(customer.needs), customer.id)
  redis.call('ZREM', k_arrivals(customer.needs), customer.id)
end

-- Returns the offer as the Python side reads it: id, customer, agent, bucket, expires, enqueued.
local function make_offer(customer, agent)
  remove_from_line(customer)
  set_state(agent, 'offered')
  local offer_id = 'o' .. redis.call('INCR', K_SEQUENCE)
  local expires_at = fmt(NOW + OFFER_TIMEOUT)
  customer.offer = offer_id
  agent.offer, agent.customer = offer_id, customer.id
  redis.call('HSET', k_customer(customer.id), 'offer', offer_id)
  redis.call('HSET', k_agent(agent.id), 'offer', offer_id, 'customer', customer.id)
  redis.call('HSET', K_OFFERS, offer_id, cjson.encode({
    customer = customer.id, agent = agent.id, needs = customer.needs, expires_at = expires_at,
  }))
  redis.call('ZADD', K_DEADLINES, expires_at, offer_id)
  return { offer_id, customer.id, agent.id, customer.needs, expires_at, customer.enqueued_at }
end

-- The best waiting customer the agent qualifies for, or the idle sets.
local function make_available(agent)
  set_state(agent, 'available')
  agent.idle_since = fmt(NOW)
  agent.idle_score = fmt(idle_score(agent))
  redis.call('HSET', k_agent(agent.id), 'idle_since', agent.idle_since,
    'idle_score', agent.idle_score)
  local sk = skills(agent)
  local best, best_score = nil, nil
  for _, b in ipairs(buckets()) do
    if qualifies(sk, b) then
      local head = redis.call('ZRANGE', k_line(b), 0, 0, 'WITHSCORES')
      if head[1] then
        local score = tonumber(head[2])
        local tied = score == best_score and bytes_less(head[1], best)
        if best == nil or score < best_score or tied then best, best_score = head[1], score end
      end
    end
  end
  if best ~= nil then return { make_offer(load_customer(best), agent) } end
  for _, b in ipairs(buckets()) do
    if qualifies(sk, b) then redis.call('ZADD', k_idle(b), agent.idle_score, agent.id) end
  end
  return {}
end

-- Least-busy ranks an idle agent by today's calls, but the rank is written when they become
-- available. So before the first choice of a new day, the agents still idle since an earlier one
-- are ranked again (memory.py's _new_day): yesterday's calls stop counting at midnight, not at the
-- agent's next call. Every agent once a day; one GET on other days.
local K_RANKED_DAY = P .. 'ranked_day'
local function new_day()
  if not LEAST_BUSY then return end
  -- Forward only: processes near midnight whose clocks differ by a moment must not re-rank
  -- back and forth (the later day's ranks stand).
  local ranked = tonumber(redis.call('GET', K_RANKED_DAY) or '-1')
  if tonumber(DAY) <= ranked then return end
  redis.call('SET', K_RANKED_DAY, DAY)
  for _, id in ipairs(redis.call('SMEMBERS', K_AGENTS)) do
    local agent = load_agent(id)
    if agent.state == 'available' then
      local score = fmt(idle_score(agent))
      if score ~= agent.idle_score then
        redis.call('HSET', k_agent(id), 'idle_score', score)
        for _, b in ipairs(buckets()) do
          if qualifies(skills(agent), b) then redis.call('ZADD', k_idle(b), 'XX', score, id) end
        end
      end
    end
  end
end

-- Offer to the best available qualified agent, or put in line at the customer's score.
local function place(customer, exclude)
  local b = customer.needs
  ensure_bucket(b)
  new_day()
  for _, agent_id in ipairs(redis.call('ZRANGE', k_idle(b), 0, 1)) do
    if agent_id ~= exclude then return { make_offer(customer, load_agent(agent_id)) } end
  end
  redis.call('ZADD', k_line(b), customer.score, customer.id)
  redis.call('ZADD', k_arrivals(b), customer.enqueued_at, customer.id)
  return {}
end

-- An offer ends unanswered: the customer keeps their place. Returns the agent (still marked
-- offered, so the customer cannot go straight back to them) and any new offer.
local function take_back(offer_id)
  local offer = load_offer(offer_id)
  redis.call('HDEL', K_OFFERS, offer_id)
  redis.call('ZREM', K_DEADLINES, offer_id)
  redis.call('HDEL', k_agent(offer.agent), 'offer', 'customer')
  redis.call('HDEL', k_customer(offer.customer), 'offer')
  local agent = load_agent(offer.agent)
  return agent, place(load_customer(offer.customer), agent.id)
end

local function after_miss(agent)
  local missed = tonumber(agent.missed) + 1
  redis.call('HSET', k_agent(agent.id), 'missed', missed)
  if missed >= MAX_MISSED then
    set_state(agent, 'away')
    return {}
  end
  return make_available(agent)
end

-- Returns the open offer made to this agent, or an error reply.
local function offer_for(offer_id, agent_id)
  local offer = load_offer(offer_id)
  if offer == nil or tonumber(offer.expires_at) < NOW then
    return nil, fail('unknown_offer', 'offer ' .. offer_id .. ' is no longer open')
  end
  if offer.agent ~= agent_id then
    return nil, fail('not_your_offer', 'offer ' .. offer_id .. ' was made to another agent')
  end
  return offer, nil
end

local function waiting_customer(id)
  local customer = load_customer(id)
  if customer == nil then
    return nil, fail('unknown_customer', 'customer ' .. id .. ' is not in line')
  end
  if customer.offer then
    return nil, fail('customer_busy', 'customer ' .. id .. ' is being offered to an agent')
  end
  return customer, nil
end

local function known_agent(id)
  local agent = load_agent(id)
  if agent == nil then return nil, fail('unknown_agent', 'no agent ' .. id) end
  return agent, nil
end
