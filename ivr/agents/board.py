"""Agent state in Redis, shared by every worker and node.

States: offline, available, ringing, on_call, wrap_up, break. A call moves an
agent ringing -> on_call -> wrap_up -> available; wrap-up ends by itself when
its time is up (read lazily, so an agent is not stuck in wrap-up if the worker
that carried the call dies). Claiming an agent for a caller is one Lua script,
so two workers never ring the same agent and callers are served in line order.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from callback.line import QueueLine
from ivr.agents.settings import AgentSettings
from ivr.state import keys

log = logging.getLogger(__name__)


class AgentState(Enum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    BREAK = "break"


# States an agent can ask for through the API; the others follow calls.
REQUESTABLE = (AgentState.OFFLINE, AgentState.AVAILABLE, AgentState.BREAK)
# Agents counted as working a queue (they will take a call sooner or later).
STAFFED = ("available", "ringing", "on_call", "wrap_up")

# KEYS: line, connecting, claims counter, held, agent hashes...
# ARGV: entry, now, comma-separated excluded agent ids, agent ids (as KEYS[5..])
_CLAIM = """
local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
if not rank then return {-1, 0, 0} end
local ahead = 0
if rank > 0 then
  for _, entry in ipairs(redis.call('ZRANGE', KEYS[1], 0, rank - 1)) do
    if redis.call('SISMEMBER', KEYS[2], entry) == 0
        and redis.call('SISMEMBER', KEYS[4], entry) == 0 then
      ahead = ahead + 1
    end
  end
end
local now = tonumber(ARGV[2])
local excluded = ',' .. ARGV[3] .. ','
local best, best_idle, free = nil, nil, 0
for i = 5, #KEYS do
  local id = ARGV[i - 1]
  local state, until_, idle = unpack(redis.call('HMGET', KEYS[i],
      'state', 'wrap_up_until', 'idle_since'))
  if state == 'wrap_up' and tonumber(until_ or '0') <= now then state = 'available' end
  if state == 'available' and not string.find(excluded, ',' .. id .. ',', 1, true) then
    free = free + 1
    local idle_at = tonumber(idle or '0')
    if best == nil or idle_at < best_idle then best, best_idle = i, idle_at end
  end
end
if best == nil or ahead >= free then return {0, ahead, free} end
redis.call('HSET', KEYS[best], 'state', 'ringing', 'since', ARGV[2], 'call', ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
local seq = redis.call('INCR', KEYS[3])
return {1, ARGV[best - 1], seq}
"""


# KEYS: the agent, the agent-events channel; ARGV: call, now, reason, agent id.
_RELEASE = """
local state, call = unpack(redis.call('HMGET', KEYS[1], 'state', 'call'))
if call ~= ARGV[1] or (state ~= 'ringing' and state ~= 'on_call') then return 0 end
redis.call('HSET', KEYS[1], 'state', 'available', 'since', ARGV[2], 'idle_since', ARGV[2],
           'call', '', 'reason', ARGV[3])
redis.call('PUBLISH', KEYS[2], ARGV[4])
return 1
"""


# KEYS: the agent; ARGV: now, reason, only-when-idle ("1"/"0"). Not while the phone is
# ringing or on a call (it answered something), and an unreachable reason is kept.
_OFFLINE = """
local state, reason = unpack(redis.call('HMGET', KEYS[1], 'state', 'reason'))
if ARGV[3] == '1' and (state == 'ringing' or state == 'on_call' or state == 'offline') then
  return 0
end
if state == 'offline' and string.sub(reason or '', 1, 12) == 'unreachable:' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'offline', 'since', ARGV[1], 'reason', ARGV[2], 'call', '',
           'break_requested', '0')
return 1
"""
UNREACHABLE = "unreachable: "


@dataclass(frozen=True)
class Claim:
    """The outcome of one try to claim an agent for a caller in line."""

    agent_id: str | None  # claimed (now ringing), or None
    sequence: int = 0  # claims are numbered in the order Redis granted them
    ahead: int = 0  # callers in front who are not being connected
    available: int = 0  # agents free for this caller right now
    queued: bool = True  # False: the entry is no longer in line


@dataclass(frozen=True)
class AgentView:
    id: str
    name: str
    uri: str
    queues: tuple[str, ...]
    state: AgentState
    since: float
    break_requested: bool
    reason: str
    call: str
    wrap_up_until: float = 0.0  # while in wrap-up: when it ends (Unix seconds)
    # a held break: when the forecast lets it start (Unix seconds); 0: not known
    break_at: float = 0.0


class AgentBoard:
    def __init__(
        self, client: aioredis.Redis, prefix: str, agents: tuple[AgentSettings, ...]
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._agents = {a.id: a for a in agents}
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._offline = client.register_script(_OFFLINE)

    def settings(self, agent_id: str) -> AgentSettings | None:
        return self._agents.get(agent_id)

    def agents(self) -> tuple[AgentSettings, ...]:
        return tuple(self._agents.values())

    def in_queue(self, queue: str) -> list[AgentSettings]:
        return [a for a in self._agents.values() if queue in a.queues]

    def _key(self, agent_id: str) -> str:
        return keys.agent(self._prefix, agent_id)

    async def register_agents(self) -> None:
        """Make sure every configured agent has a state (offline until they log in);
        a state another node already keeps is left alone."""
        now = str(time.time())
        async with self._client.pipeline(transaction=False) as pipe:
            for agent_id in self._agents:
                pipe.hsetnx(self._key(agent_id), "state", AgentState.OFFLINE.value)
                pipe.hsetnx(self._key(agent_id), "since", now)
            await pipe.execute()

    async def claim(self, queue: str, line: QueueLine, entry: str, excluded: set[str]) -> Claim:
        """Ring the longest-idle available agent of ``queue`` for ``entry``, if the
        entry's place in line entitles it to one of the free agents."""
        agents = self.in_queue(queue)
        line_key, connecting_key, held_key = line.keys_for(queue)
        result = await self._claim(
            keys=[line_key, connecting_key, keys.agent_claims(self._prefix), held_key]
            + [self._key(a.id) for a in agents],
            args=[entry, repr(time.time()), ",".join(sorted(excluded))] + [a.id for a in agents],
        )
        status, first, second = int(result[0]), result[1], int(result[2])
        if status == 1:
            return Claim(agent_id=str(first), sequence=second)
        return Claim(None, ahead=int(first), available=second, queued=status == 0)

    async def _set(self, agent_id: str, state: AgentState, **fields: str) -> None:
        mapping: dict[Any, Any] = {"state": state.value, "since": repr(time.time()), **fields}
        await self._client.hset(self._key(agent_id), mapping=mapping)
        if state is AgentState.AVAILABLE:
            await self._client.publish(keys.agent_events(self._prefix), agent_id)

    async def answered(self, agent_id: str) -> None:
        await self._set(agent_id, AgentState.ON_CALL)

    async def not_answered(self, agent_id: str, reason: str) -> None:
        """Ring-no-answer (or busy, or unreachable): the agent is taken out until they
        say they are back, so the next caller does not ring an empty desk. An
        ``unreachable:`` reason already given (:meth:`unreachable`) is kept."""
        taken = await self._offline(
            keys=[self._key(agent_id)],
            args=[repr(time.time()), f"did not answer: {reason}", "0"],
        )
        if taken:
            log.warning("agent %s did not answer (%s): set offline", agent_id, reason)

    async def unreachable(self, agent_id: str, detail: str, *, only_idle: bool = False) -> bool:
        """The agent's phone cannot be reached (``detail``: the SIP status, or what the
        OPTIONS probe saw): offline with the reason ``unreachable: <detail>`` until
        they log in again. ``only_idle``: leave an agent alone whose phone is ringing
        or on a call (it answered), or who is offline already. True when taken out."""
        taken = await self._offline(
            keys=[self._key(agent_id)],
            args=[repr(time.time()), UNREACHABLE + detail, "1" if only_idle else "0"],
        )
        if taken:
            log.warning("agent %s unreachable (%s): set offline", agent_id, detail)
        return bool(taken)

    async def finished(self, agent_id: str, wrap_up_seconds: float) -> None:
        """The agent's call ended: wrap-up, then available (or the break they asked for)."""
        until = time.time() + wrap_up_seconds
        await self._set(
            agent_id,
            AgentState.WRAP_UP,
            wrap_up_until=repr(until),
            idle_since=repr(until),
            call="",
            reason="",
        )
        if wrap_up_seconds == 0:
            await self._client.publish(keys.agent_events(self._prefix), agent_id)

    async def set_requested(
        self, agent_id: str, state: AgentState, break_allowed: bool, break_at: float = 0.0
    ) -> str:
        """A state asked for through the API; returns the state taken. A break is
        granted only when ``break_allowed`` (the queues can spare the agent) and the
        agent is not on a call; otherwise it is held (the agent keeps taking calls)
        until :meth:`QueueDesk.grant_held_breaks` finds the queues can spare them.
        ``break_at``: when a held break can be granted by the forecast (0: not known)."""
        current = await self.view(agent_id)
        if state is AgentState.BREAK and not break_allowed:
            await self.hold_break(agent_id, break_at)
            return f"{current.state.value} (break requested)"
        busy = current.state in (AgentState.RINGING, AgentState.ON_CALL)
        if busy and state is not AgentState.OFFLINE:
            if state is AgentState.BREAK:
                await self.hold_break(agent_id, break_at)
                return f"{current.state.value} (break requested)"
            return current.state.value
        fields = {"break_requested": "0", "break_at": "0", "reason": ""}
        if state is AgentState.AVAILABLE and current.state is not AgentState.AVAILABLE:
            fields["idle_since"] = repr(time.time())
        await self._set(agent_id, state, **fields)
        return state.value

    async def hold_break(self, agent_id: str, break_at: float) -> None:
        """Hold the agent's break; ``break_at``: when it can be granted (0: not known)."""
        mapping = {"break_requested": "1", "break_at": repr(break_at)}
        await self._client.hset(self._key(agent_id), mapping=mapping)  # type: ignore[arg-type]

    async def start_break(self, agent_id: str) -> bool:
        """A held break begins, unless a call got the agent first (then False)."""
        async with self._client.pipeline(transaction=True) as pipe:
            await pipe.watch(self._key(agent_id))
            current = await self.view(agent_id)
            if current.state is not AgentState.AVAILABLE or not current.break_requested:
                return False
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.hset(
                self._key(agent_id),
                mapping={
                    "state": "break",
                    "since": repr(time.time()),
                    "break_requested": "0",
                    "break_at": "0",
                },
            )
            try:
                await pipe.execute()
            except WatchError:
                return False
        return True

    async def release(self, agent_id: str, call: str, reason: str) -> bool:
        """Free an agent still held (ringing or on a call) for ``call``, which no
        longer exists; False when the agent has moved on meanwhile."""
        released = await self._release(
            keys=[self._key(agent_id), keys.agent_events(self._prefix)],
            args=[call, repr(time.time()), reason, agent_id],
        )
        return bool(released)

    async def view(self, agent_id: str) -> AgentView:
        settings = self._agents[agent_id]
        row = await self._client.hgetall(self._key(agent_id))
        return _view(settings, cast(dict[str, str], row), time.time())

    async def views(self) -> list[AgentView]:
        async with self._client.pipeline(transaction=False) as pipe:
            for agent_id in self._agents:
                pipe.hgetall(self._key(agent_id))
            rows: list[dict[str, str]] = await pipe.execute()
        now = time.time()
        return [_view(a, row, now) for a, row in zip(self._agents.values(), rows, strict=True)]


def _view(settings: AgentSettings, row: dict[str, str], now: float) -> AgentView:
    state = AgentState(row.get("state", "offline"))
    since = float(row.get("since", "0") or 0)
    pending = row.get("break_requested") == "1"
    until = float(row.get("wrap_up_until", "0") or 0)
    if state is AgentState.WRAP_UP and until <= now:
        state, since = AgentState.AVAILABLE, until
    return AgentView(
        id=settings.id,
        name=settings.name,
        uri=settings.uri,
        queues=settings.queues,
        state=state,
        since=since,
        break_requested=pending,
        reason=row.get("reason", ""),
        call=row.get("call", ""),
        wrap_up_until=until if state is AgentState.WRAP_UP else 0.0,
        break_at=float(row.get("break_at", "0") or 0) if pending else 0.0,
    )
