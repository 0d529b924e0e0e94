"""The registry's Lua scripts and the transition rules they are given: each change of a registration is
one script on the keys of its own hash slot, so the check and the write are atomic, on Redis Cluster too.

The rules live here in Python and reach the scripts as arguments, so a state is named in one place.
"""

from __future__ import annotations

from keys.answer import State

from .transport import Script

# Transitions an issuer may make, by target state: ended is final, valid only from suspended,
# superseded only through a correction (not here).
ALLOWED_FROM: dict[State, tuple[State, ...]] = {
    State.SUSPENDED: (State.VALID, State.PAPER_LEGACY),
    State.REVOKED: (State.VALID, State.SUSPENDED, State.PAPER_LEGACY),
    State.VALID: (State.SUSPENDED,),
    State.ENDED: (State.VALID, State.SUSPENDED, State.PAPER_LEGACY, State.REVOKED),
}
# The states a correction may supersede: a certificate that is in force (or only suspended).
CORRECTABLE: tuple[State, ...] = (State.VALID, State.SUSPENDED, State.PAPER_LEGACY)


def states_arg(states: tuple[State, ...]) -> str:
    """A set of states as a script reads it: a comma list."""
    return ",".join(s.value for s in states)


# KEYS: certificate, version, history. ARGV: version, issuer, record_no, paper, payload_sha, event, then the
# version's fields as name, value, name, value, ... (one HSET; no JSON to decode on the server).
REGISTER = Script("""
local existing = redis.call('HGET', KEYS[2], 'payload_sha')
if existing then
  if existing == ARGV[5] then return {'unchanged', redis.call('HGET', KEYS[2], 'published') or ''} end
  return {'conflict', '该编号和版本已登记了另一份证书 / another payload is registered for this number and version'}
end
local owner = redis.call('HGET', KEYS[1], 'issuer')
if owner and owner ~= ARGV[2] then return {'forbidden', owner} end
local latest = redis.call('HGET', KEYS[1], 'latest')
if latest then
  return {'conflict', '已登记第 ' .. latest .. ' 版，新版本须通过更正提交 / version ' .. latest ..
          ' is registered; a new version is made by a correction'}
end
redis.call('HSET', KEYS[2], 'payload_sha', ARGV[5], unpack(ARGV, 7))
redis.call('HSET', KEYS[1], 'latest', ARGV[1], 'issuer', ARGV[2], 'record_no', ARGV[3], 'paper', ARGV[4])
redis.call('RPUSH', KEYS[3], ARGV[6])
return {'created', ''}
""")

# KEYS: certificate, history. ARGV: target, allowed (comma list), issuer ('' = operator), reason, since, event.
# The latest version's key is derived from the certificate's as keyspace.version() makes it (same slot).
STATUS = Script("""
local latest = redis.call('HGET', KEYS[1], 'latest')
if not latest then return {'not_found', ''} end
local owner = redis.call('HGET', KEYS[1], 'issuer')
if ARGV[3] ~= '' and owner ~= ARGV[3] then return {'forbidden', owner} end
local vkey = KEYS[1] .. ':v' .. latest
local before = redis.call('HGET', vkey, 'state')
local target = ARGV[1]
if target == 'valid' and redis.call('HGET', KEYS[1], 'paper') == '1' then target = 'paper_legacy' end
local allowed = false
for s in string.gmatch(ARGV[2], '[^,]+') do if s == before then allowed = true end end
if not allowed then return {'refused', before, latest} end
redis.call('HSET', vkey, 'state', target, 'reason', ARGV[4], 'since', ARGV[5], 'published', '0')
local event = cjson.decode(ARGV[6])
event['before'] = before
event['after'] = target
redis.call('RPUSH', KEYS[2], cjson.encode(event))
return {'changed', before, latest, target}
""")

# KEYS: certificate, new version, history. ARGV: old version, new version, issuer, payload_sha, fields, reason,
# since, event, correctable (comma list). The same correction again is `unchanged`, like a registration.
CORRECT = Script("""
local latest = redis.call('HGET', KEYS[1], 'latest')
if not latest then return {'not_found', ''} end
local owner = redis.call('HGET', KEYS[1], 'issuer')
if owner ~= ARGV[3] then return {'forbidden', owner} end
local existing = redis.call('HGET', KEYS[2], 'payload_sha')
if existing == ARGV[4] then return {'unchanged', redis.call('HGET', KEYS[2], 'published') or ''} end
if existing then
  return {'conflict', '第 ' .. ARGV[2] .. ' 版已登记了另一份证书 / another payload is registered as version ' .. ARGV[2]}
end
if latest ~= ARGV[1] then
  return {'conflict', '现行为第 ' .. latest .. ' 版，更正须为第 ' .. (latest + 1) .. ' 版 / the latest version is ' ..
          latest .. ', so a correction is version ' .. (latest + 1)}
end
local okey = KEYS[1] .. ':v' .. latest
local before = redis.call('HGET', okey, 'state')
local correctable = false
for s in string.gmatch(ARGV[9], '[^,]+') do if s == before then correctable = true end end
if not correctable then return {'refused', before} end
local fields = cjson.decode(ARGV[5])
for k, v in pairs(fields) do redis.call('HSET', KEYS[2], k, v) end
redis.call('HSET', KEYS[2], 'payload_sha', ARGV[4])
redis.call('HSET', okey, 'state', 'superseded', 'reason', ARGV[6], 'since', ARGV[7], 'superseded_by', ARGV[2],
           'published', '0')
redis.call('HSET', KEYS[1], 'latest', ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[8])
return {'changed', before}
""")

# KEYS: the e-licence identifier's key. ARGV: registration number|version, registration number, version. An
# identifier belongs to one registration for good: it is set when free, moves to a later version of the same
# registration (an earlier version's claim, a retry, leaves it where it is: still 1), and is never taken by
# another registration (0).
CLAIM_LICENCE = Script("""
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then
  local number, version = string.match(current, '^(.*)|(%d+)$')
  if number ~= ARGV[2] then return 0 end
  if tonumber(version) > tonumber(ARGV[3]) then return 1 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
""")

# KEYS: version. Marks a version published, unless it is not there (lost with a master that died before a
# replica had it): then the caller learns that its change was not acknowledged.
MARK_PUBLISHED = Script("""
if redis.call('HEXISTS', KEYS[1], 'payload_sha') == 0 then return 0 end
redis.call('HSET', KEYS[1], 'published', '1')
return 1
""")
