"""The Lua scripts behind :class:`callback.requests.CallbackRequests`, each run atomically
in Redis. Their KEYS and ARGV are named above each; key prefixes come in through ARGV
from :mod:`callback.keys`, and the line's suffix and a callback's entry prefix are
filled in from the same module when the scripts are built."""

from string import Template

from callback.keys import CALLBACK_ENTRY_PREFIX, LINE_SUFFIX


def _lua(source: str) -> str:
    return Template(source).substitute(entry_prefix=CALLBACK_ENTRY_PREFIX, line_suffix=LINE_SUFFIX)


# KEYS: number index (number -> request id), the set of queues with callbacks.
# ARGV: number, new id, queue, place, next_at, ticket id, caller name, intent,
#       request hash prefix, line prefix, due prefix, now (see CallbackRequests.request)
REQUEST = _lua("""
local existing = redis.call('HGET', KEYS[1], ARGV[1])
local id = ARGV[2]
local place = tonumber(ARGV[4])
if existing then
  local state = redis.call('HGET', ARGV[9] .. existing, 'state')
  if state == 'pending' or state == 'dialling' then
    id = existing
    local old = tonumber(redis.call('HGET', ARGV[9] .. id, 'place'))
    if old < place then place = old end
    local old_queue = redis.call('HGET', ARGV[9] .. id, 'queue')
    if old_queue ~= ARGV[3] then
      redis.call('ZREM', ARGV[10] .. old_queue .. '$line_suffix', '$entry_prefix' .. id)
      redis.call('ZREM', ARGV[11] .. old_queue, id)
    end
  end
end
local key = ARGV[9] .. id
local priority = tonumber(redis.call('HGET', key, 'priority_seconds') or '0')
local state = redis.call('HGET', key, 'state')
if state ~= 'dialling' then state = 'pending' end
redis.call('HSET', key, 'id', id, 'number', ARGV[1], 'queue', ARGV[3], 'place', place,
  'state', state, 'next_at', ARGV[5], 'ticket_id', ARGV[6], 'caller_name', ARGV[7],
  'intent', ARGV[8], 'created_at', ARGV[12])
redis.call('HSETNX', key, 'attempts', 0)
redis.call('HSETNX', key, 'priority_seconds', 0)
redis.call('HSET', KEYS[1], ARGV[1], id)
redis.call('ZADD', ARGV[10] .. ARGV[3] .. '$line_suffix', place - priority, '$entry_prefix' .. id)
if state == 'pending' then redis.call('ZADD', ARGV[11] .. ARGV[3], ARGV[5], id) end
redis.call('SADD', KEYS[2], ARGV[3])
return id
""")

# ARGV: id, owner, now, lease seconds, request prefix, due prefix
TAKE = _lua("""
local key = ARGV[5] .. ARGV[1]
if redis.call('HGET', key, 'state') ~= 'pending' then return 0 end
if tonumber(redis.call('HGET', key, 'next_at')) > tonumber(ARGV[3]) then return 0 end
local lease_until = tonumber(ARGV[3]) + tonumber(ARGV[4])
redis.call('HSET', key, 'state', 'dialling', 'lease_owner', ARGV[2], 'lease_until', lease_until)
redis.call('ZREM', ARGV[6] .. redis.call('HGET', key, 'queue'), ARGV[1])
redis.call('ZADD', KEYS[1], lease_until, ARGV[1])
return 1
""")

# Back to pending without an attempt (no agent after all, or an expired lease).
# ARGV: id, owner ('' = any), request prefix, due prefix, now
UNTAKE = _lua("""
local key = ARGV[3] .. ARGV[1]
if redis.call('HGET', key, 'state') ~= 'dialling' then return 0 end
if ARGV[2] ~= '' and redis.call('HGET', key, 'lease_owner') ~= ARGV[2] then return 0 end
redis.call('HSET', key, 'state', 'pending', 'lease_owner', '', 'lease_until', 0)
redis.call('ZREM', KEYS[1], ARGV[1])
local next_at = math.max(tonumber(redis.call('HGET', key, 'next_at')), tonumber(ARGV[5]))
redis.call('ZADD', ARGV[4] .. redis.call('HGET', key, 'queue'), next_at, ARGV[1])
return 1
""")

# One attempt ended. ARGV: id, owner, outcome state (done|failed|pending), reason,
# next_at, attempt JSON, now, request prefix, due prefix, line prefix
FINISH = _lua("""
local key = ARGV[8] .. ARGV[1]
if redis.call('HGET', key, 'state') ~= 'dialling' then return 0 end
if redis.call('HGET', key, 'lease_owner') ~= ARGV[2] then return 0 end
redis.call('HINCRBY', key, 'attempts', 1)
redis.call('RPUSH', key .. ':history', ARGV[6])
redis.call('ZREM', KEYS[1], ARGV[1])
local queue = redis.call('HGET', key, 'queue')
redis.call('HSET', key, 'state', ARGV[3], 'reason', ARGV[4], 'lease_owner', '', 'lease_until', 0,
  'next_at', ARGV[5])
if ARGV[3] == 'pending' then
  redis.call('ZADD', ARGV[9] .. queue, ARGV[5], ARGV[1])
else
  redis.call('ZREM', ARGV[10] .. queue .. '$line_suffix', '$entry_prefix' .. ARGV[1])
  redis.call('HDEL', KEYS[2], redis.call('HGET', key, 'number'))
  redis.call('ZADD', KEYS[3], ARGV[7], ARGV[1])
end
return 1
""")

# ARGV: id, reason, now, request prefix, due prefix, line prefix
CANCEL = _lua("""
local key = ARGV[4] .. ARGV[1]
local state = redis.call('HGET', key, 'state')
if state ~= 'pending' and state ~= 'dialling' then return 0 end
local queue = redis.call('HGET', key, 'queue')
redis.call('HSET', key, 'state', 'cancelled', 'reason', ARGV[2], 'lease_owner', '')
redis.call('ZREM', ARGV[5] .. queue, ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', ARGV[6] .. queue .. '$line_suffix', '$entry_prefix' .. ARGV[1])
redis.call('HDEL', KEYS[2], redis.call('HGET', key, 'number'))
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
""")
