"""The call on an agent's desk: who rings them and what they did in the IVR, in Redis.

The worker carrying a call writes it as the agent is rung (``ringing``), then
``connected`` and ``ended``; the API of any node reads it for the agent desk
(``ivr.api.desk``). One record per agent, replaced by the next call; it stays
after the call so the agent can wrap it up, and expires after a day.

Best effort: a write that fails is logged and the call goes on (the desk then
shows less, the call is not harmed).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ivr.state import keys
from ivr.tickets.model import UTTERANCE, CallJournal, TicketEvent

log = logging.getLogger(__name__)

RECORD_TTL_SECONDS = 24 * 3600
RINGING, CONNECTED, ENDED = "ringing", "connected", "ended"
MISSED = "missed"  # rung, never connected: nothing to show or wrap up
MAX_STEPS = 50  # of the IVR path carried to the desk (a looping caller stops here)

# KEYS: the agent's record; ARGV: call id, field, value, field, value...
# A phase change for a call the record no longer holds (the next call rang) is dropped.
_UPDATE = """
if redis.call('HGET', KEYS[1], 'call') ~= ARGV[1] then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""


@dataclass(frozen=True)
class DeskCall:
    """One agent's current or last call, as read back."""

    call: str  # the caller's call id, or the callback request's line entry
    phase: str  # RINGING, CONNECTED, ENDED or MISSED
    pop: dict[str, Any]  # what :func:`journal_pop` or a callback attempt wrote
    rung_at: float
    connected_at: float | None
    ended_at: float | None
    wrapped_up: bool
    escalation: dict[str, Any] | None = None  # the agent's escalation of this call, as it goes


def ivr_steps(events: tuple[TicketEvent, ...] | list[TicketEvent]) -> list[dict[str, Any]]:
    """The caller's path through the plan, one step per node entered, each with the
    keys pressed and what was said (text and intent) there."""
    steps: list[dict[str, Any]] = []
    for event in events:
        detail = event.detail
        if event.kind == "node":
            steps.append({"node": str(detail.get("node", "")), "keys": "", "said": []})
        elif steps and event.kind == "dtmf":
            steps[-1]["keys"] += str(detail.get("digit", ""))
        elif steps and event.kind == UTTERANCE and "text" in detail:
            steps[-1]["said"].append({"text": detail["text"], "intent": detail.get("intent")})
    return steps[-MAX_STEPS:]


def caller_fields(variables: dict[str, str]) -> dict[str, Any]:
    """Who the directory says the caller is (empty strings when unknown)."""
    return {
        "employee_id": variables.get("employee_id", ""),
        "employee_name": variables.get("employee_name", ""),
        "department": variables.get("department", ""),
        "vip": variables.get("vip", "").lower() in ("1", "yes", "true", "y"),
    }


def journal_pop(
    journal: CallJournal, ticket_id: int | None, caller_number: str, queue: str | None
) -> dict[str, Any]:
    """What the desk shows of a live call, from its journal so far."""
    return {
        "kind": "call",
        "ticket_id": ticket_id,
        "caller_number": caller_number,
        "queue": queue,
        **caller_fields(journal.variables),
        "intent": journal.handling.intent,
        "keys": "".join(journal.keys),
        "steps": ivr_steps(journal.events),
        "callback": None,
    }


class DeskCalls:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._update = client.register_script(_UPDATE)

    def _key(self, agent_id: str) -> str:
        return keys.desk_call(self._prefix, agent_id)

    async def ringing(self, agent_id: str, call: str, pop: dict[str, Any]) -> None:
        """``call`` (a call id or a callback entry) rings the agent: it replaces their record."""
        mapping = {
            "call": call,
            "phase": RINGING,
            "pop": json.dumps(pop, default=str),
            "rung_at": repr(time.time()),
            "wrapped_up": "0",
        }
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(self._key(agent_id))
                pipe.hset(self._key(agent_id), mapping=cast(Any, mapping))
                pipe.expire(self._key(agent_id), RECORD_TTL_SECONDS)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("desk of agent %s not told of the call: %s", agent_id, exc)

    async def connected(self, agent_id: str, call: str) -> None:
        await self._set(agent_id, call, phase=CONNECTED, connected_at=repr(time.time()))

    async def ended(self, agent_id: str, call: str) -> None:
        await self._set(agent_id, call, phase=ENDED, ended_at=repr(time.time()))

    async def missed(self, agent_id: str, call: str) -> None:
        """The agent was rung for ``call`` but never connected to it."""
        await self._set(agent_id, call, phase=MISSED, ended_at=repr(time.time()))

    async def escalation(self, agent_id: str, call: str, state: dict[str, Any]) -> None:
        """How the agent's escalation of ``call`` stands (:mod:`ivr.agents.escalation`)."""
        await self._set(agent_id, call, escalation=json.dumps(state, default=str))

    async def wrapped_up(self, agent_id: str, call: str) -> None:
        """The agent wrapped the call up: the desk stops offering the form for it.
        Raises RedisError or OSError (the API answers 503)."""
        await self._update(keys=[self._key(agent_id)], args=[call, "wrapped_up", "1"])

    async def _set(self, agent_id: str, call: str, **fields: str) -> None:
        args: list[str] = [call]
        for name, value in fields.items():
            args += [name, value]
        try:
            await self._update(keys=[self._key(agent_id)], args=args)
        except (RedisError, OSError) as exc:
            log.warning("desk of agent %s not updated: %s", agent_id, exc)

    async def forget_number(self, number: str) -> int:
        """Drop every desk record of a call from ``number`` (the caller's data erased);
        how many went. Raises RedisError: asking again finishes it."""
        dropped = 0
        async for key in self._client.scan_iter(match=keys.desk_call(self._prefix, "*")):
            pop = await self._client.hget(key, "pop")
            try:
                caller = json.loads(pop).get("caller_number") if pop else None
            except (ValueError, AttributeError):
                caller = None
            if caller == number:
                dropped += int(await self._client.delete(key))
        return dropped

    async def current(self, agent_id: str) -> DeskCall | None:
        """The agent's record, or None. Raises RedisError or OSError."""
        row = cast(dict[str, str], await self._client.hgetall(self._key(agent_id)))
        if not row.get("call"):
            return None
        try:
            pop = json.loads(row.get("pop") or "{}")
        except ValueError:
            pop = {}
        try:
            escalation = json.loads(row["escalation"]) if row.get("escalation") else None
        except ValueError:
            escalation = None

        def moment(name: str) -> float | None:
            value = row.get(name)
            return float(value) if value else None

        return DeskCall(
            call=row["call"],
            phase=row.get("phase", RINGING),
            pop=pop if isinstance(pop, dict) else {},
            rung_at=moment("rung_at") or 0.0,
            connected_at=moment("connected_at"),
            ended_at=moment("ended_at"),
            wrapped_up=row.get("wrapped_up") == "1",
            escalation=escalation if isinstance(escalation, dict) else None,
        )
