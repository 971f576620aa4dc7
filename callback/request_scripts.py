"""The Lua scripts behind :class:`callback.requests.CallbackRequests`, each run atomically
in Redis. Their KEYS and ARGV are named above each; key prefixes come in through ARGV
from :mod:`callback.keys`, and the line's suffix and a callback's entry prefix are
filled in from the same module when the scripts are built."""

from string import Template

from callback.keys import CALLBACK_ENTRY_PREFIX, LINE_SUFFIX


def _lua(source: str) -> str:
    return Template(source).substitute(entry_prefix=CALLBACK_ENTRY_PREFIX, line_suffix=LINE_SUFFIX)


# A request's score in its line: place less the value rule's seconds (VIP, intent, each
# attempt so far) less the operator's priority; CallbackRequest.standing says the same.
_STANDING = """
local function standing(request_key)
  local f = redis.call('HMGET', request_key, 'place', 'priority_seconds', 'vip_seconds',
    'intent_seconds', 'per_failed_attempt_seconds', 'attempts')
  local n = {}
  for i = 1, 6 do n[i] = tonumber(f[i] or '0') or 0 end
  return n[1] - n[2] - n[3] - n[4] - n[5] * n[6]
end
"""


# KEYS: number index (number -> request id), the set of queues with callbacks.
# ARGV: number, new id, queue, place, next_at, ticket id, caller name, intent,
#       request hash prefix, line prefix, due prefix, now, the value rule's VIP,
#       intent and per-failed-attempt seconds (see CallbackRequests.request)
REQUEST = _lua(
    _STANDING
    + """
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
local state = redis.call('HGET', key, 'state')
if state ~= 'dialling' then state = 'pending' end
redis.call('HSET', key, 'id', id, 'number', ARGV[1], 'queue', ARGV[3], 'place', place,
  'state', state, 'next_at', ARGV[5], 'ticket_id', ARGV[6], 'caller_name', ARGV[7],
  'intent', ARGV[8], 'created_at', ARGV[12], 'vip_seconds', ARGV[13],
  'intent_seconds', ARGV[14], 'per_failed_attempt_seconds', ARGV[15])
redis.call('HSETNX', key, 'attempts', 0)
redis.call('HSETNX', key, 'priority_seconds', 0)
redis.call('HSET', KEYS[1], ARGV[1], id)
redis.call('ZADD', ARGV[10] .. ARGV[3] .. '$line_suffix', standing(key), '$entry_prefix' .. id)
if state == 'pending' then redis.call('ZADD', ARGV[11] .. ARGV[3], ARGV[5], id) end
redis.call('SADD', KEYS[2], ARGV[3])
return id
"""
)

# Returns the lease's generation (0: not taken). Every later write of the lease holder
# names owner and generation: a dispatcher whose lease was taken over is fenced off.
# ARGV: id, owner, now, lease seconds, request prefix, due prefix
TAKE = _lua("""
local key = ARGV[5] .. ARGV[1]
if redis.call('HGET', key, 'state') ~= 'pending' then return 0 end
if tonumber(redis.call('HGET', key, 'next_at')) > tonumber(ARGV[3]) then return 0 end
local lease_until = tonumber(ARGV[3]) + tonumber(ARGV[4])
local generation = redis.call('HINCRBY', key, 'lease_generation', 1)
redis.call('HSET', key, 'state', 'dialling', 'lease_owner', ARGV[2], 'lease_until', lease_until)
redis.call('HDEL', key, 'in_flight')
redis.call('ZREM', ARGV[6] .. redis.call('HGET', key, 'queue'), ARGV[1])
redis.call('ZADD', KEYS[1], lease_until, ARGV[1])
return generation
""")

# The lease holder's check, at the top of every script it runs.
_HOLDER = """
local key = ARGV[3] .. ARGV[1]
if redis.call('HGET', key, 'state') ~= 'dialling' then return 0 end
if redis.call('HGET', key, 'lease_owner') ~= ARGV[2] then return 0 end
if redis.call('HGET', key, 'lease_generation') ~= ARGV[4] then return 0 end
"""

# ARGV: id, owner, request prefix, generation, now, lease seconds
RENEW = _lua(
    _HOLDER
    + """
local lease_until = tonumber(ARGV[5]) + tonumber(ARGV[6])
redis.call('HSET', key, 'lease_until', lease_until)
redis.call('ZADD', KEYS[1], lease_until, ARGV[1])
return 1
"""
)

# Written before a call leaves (write ahead), then as it answers and connects: what a
# successor needs to know if this dispatcher dies. No write ahead after the lease ran
# out (the holder stalled), so a successor's call is never doubled by a late one.
# ARGV: id, owner, request prefix, generation, now, record JSON, 'dialling' | other phase
MARK = _lua(
    _HOLDER
    + """
if ARGV[7] == 'dialling' and tonumber(redis.call('HGET', key, 'lease_until')) < tonumber(ARGV[5])
then return 0 end
redis.call('HSET', key, 'in_flight', ARGV[6])
return 1
"""
)

# Back to pending without an attempt (no agent after all: nobody was dialled).
# ARGV: id, owner, request prefix, generation, due prefix, now
UNTAKE = _lua(
    _HOLDER
    + """
redis.call('HSET', key, 'state', 'pending', 'lease_owner', '', 'lease_until', 0)
redis.call('HDEL', key, 'in_flight')
redis.call('ZREM', KEYS[1], ARGV[1])
local next_at = math.max(tonumber(redis.call('HGET', key, 'next_at')), tonumber(ARGV[6]))
redis.call('ZADD', ARGV[5] .. redis.call('HGET', key, 'queue'), next_at, ARGV[1])
return 1
"""
)

# A lease ran out (its dispatcher died or stalled): settle the call it had in flight.
# None: back to pending, uncounted. Connected: done. Otherwise the outcome is unknown
# (the customer may have answered and been cut off): counted as an attempt, and dialled
# again (with an apology) only within the redial allowance and max_attempts.
# Returns '' when the lease was not expired, else the state and the attempt record
# written ('{}' when none) as JSON. With a journal ('1'), the record waits in the
# unjournaled hash until it is on the ticket.
# KEYS: leased, by number, closed, unjournaled.
# ARGV: id, request prefix, due prefix, line prefix, now, redial allowance, max attempts,
#       the value rule's seconds per failed attempt, journal ('1' or '')
REAP = _lua(
    _STANDING
    + """
local key = ARGV[2] .. ARGV[1]
local now = tonumber(ARGV[5])
if redis.call('HGET', key, 'state') ~= 'dialling' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return ''
end
if tonumber(redis.call('HGET', key, 'lease_until') or '0') > now then return '' end
local queue = redis.call('HGET', key, 'queue')
local raw = redis.call('HGET', key, 'in_flight')
redis.call('HSET', key, 'lease_owner', '', 'lease_until', 0)
redis.call('HDEL', key, 'in_flight')
redis.call('ZREM', KEYS[1], ARGV[1])
if not raw then
  redis.call('HSET', key, 'state', 'pending')
  local next_at = math.max(tonumber(redis.call('HGET', key, 'next_at')), now)
  redis.call('ZADD', ARGV[3] .. queue, next_at, ARGV[1])
  return cjson.encode({state = 'pending', record = {}})
end
redis.call('HDEL', key, 'apologise')
local record = cjson.decode(raw)
local attempts = redis.call('HINCRBY', key, 'attempts', 1)
record['attempt'] = attempts
record['lost_dispatcher'] = record['dispatcher']
record['at'] = now
local state = 'done'
if record['phase'] == 'connected' then
  record['outcome'] = 'connected'
  record['detail'] = 'connected; its dispatcher stopped during the call'
else
  record['outcome'] = 'unknown'
  local cut_offs = redis.call('HINCRBY', key, 'cut_offs', 1)
  if cut_offs <= tonumber(ARGV[6]) and attempts < tonumber(ARGV[7]) then
    state = 'pending'
    record['detail'] = 'its dispatcher stopped during the call (' .. record['phase'] ..
      '); called again with an apology'
  else
    state = 'failed'
    record['detail'] = 'its dispatcher stopped during the call (' .. record['phase'] ..
      '); no redial left'
  end
end
record['next_at'] = cjson.null
redis.call('RPUSH', key .. ':history', cjson.encode(record))
redis.call('HSET', key, 'state', state, 'reason', record['outcome'])
if ARGV[9] == '1' then
  record['state'] = state
  redis.call('HSET', KEYS[4], ARGV[1] .. ':' .. attempts, cjson.encode(record))
end
if state == 'pending' then
  redis.call('HSET', key, 'next_at', now, 'apologise', 1, 'per_failed_attempt_seconds', ARGV[8])
  redis.call('ZADD', ARGV[3] .. queue, now, ARGV[1])
  redis.call('ZADD', ARGV[4] .. queue .. '$line_suffix', 'XX', standing(key),
    '$entry_prefix' .. ARGV[1])
else
  redis.call('ZREM', ARGV[4] .. queue .. '$line_suffix', '$entry_prefix' .. ARGV[1])
  redis.call('HDEL', KEYS[2], redis.call('HGET', key, 'number'))
  redis.call('ZADD', KEYS[3], now, ARGV[1])
end
return cjson.encode({state = state, record = record})
"""
)

# One attempt ended; pending again, it moves up by the value rule's seconds per failed
# attempt. The record for the ticket (when there is a journal) waits in the
# unjournaled hash until it is written there. KEYS: leased, by number, closed, unjournaled.
# ARGV: id, owner, request prefix, generation, outcome state (done|failed|pending),
# reason, next_at, attempt JSON, now, due prefix, line prefix, seconds per failed attempt,
# the ticket's record JSON ('' without a journal)
FINISH = _lua(
    _STANDING
    + _HOLDER
    + """
local attempts = redis.call('HINCRBY', key, 'attempts', 1)
redis.call('RPUSH', key .. ':history', ARGV[8])
if ARGV[13] ~= '' then redis.call('HSET', KEYS[4], ARGV[1] .. ':' .. attempts, ARGV[13]) end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', key, 'in_flight', 'apologise')
local queue = redis.call('HGET', key, 'queue')
redis.call('HSET', key, 'state', ARGV[5], 'reason', ARGV[6], 'lease_owner', '', 'lease_until', 0,
  'next_at', ARGV[7])
if ARGV[5] == 'pending' then
  redis.call('ZADD', ARGV[10] .. queue, ARGV[7], ARGV[1])
  redis.call('HSET', key, 'per_failed_attempt_seconds', ARGV[12])
  redis.call('ZADD', ARGV[11] .. queue .. '$line_suffix', 'XX', standing(key),
    '$entry_prefix' .. ARGV[1])
else
  redis.call('ZREM', ARGV[11] .. queue .. '$line_suffix', '$entry_prefix' .. ARGV[1])
  redis.call('HDEL', KEYS[2], redis.call('HGET', key, 'number'))
  redis.call('ZADD', KEYS[3], ARGV[9], ARGV[1])
end
return 1
"""
)

# ARGV: id, reason, now, request prefix, due prefix, line prefix
CANCEL = _lua("""
local key = ARGV[4] .. ARGV[1]
local state = redis.call('HGET', key, 'state')
if state ~= 'pending' and state ~= 'dialling' then return 0 end
local queue = redis.call('HGET', key, 'queue')
redis.call('HSET', key, 'state', 'cancelled', 'reason', ARGV[2], 'lease_owner', '')
redis.call('HDEL', key, 'in_flight')
redis.call('ZREM', ARGV[5] .. queue, ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', ARGV[6] .. queue .. '$line_suffix', '$entry_prefix' .. ARGV[1])
redis.call('HDEL', KEYS[2], redis.call('HGET', key, 'number'))
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
""")

# An operator's priority; the request keeps the value rule's seconds besides.
# ARGV: id, request prefix, line prefix, priority seconds
REPRIORITISE = _lua(
    _STANDING
    + """
local key = ARGV[2] .. ARGV[1]
local state = redis.call('HGET', key, 'state')
if state ~= 'pending' and state ~= 'dialling' then return 0 end
redis.call('HSET', key, 'priority_seconds', ARGV[4])
local queue = redis.call('HGET', key, 'queue')
redis.call('ZADD', ARGV[3] .. queue .. '$line_suffix', 'XX', standing(key),
  '$entry_prefix' .. ARGV[1])
return 1
"""
)
