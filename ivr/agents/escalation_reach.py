"""Reaching the second line of an escalation from the agent desk (used by
:mod:`ivr.agents.escalation`).

The second line is an extension, dialled through the dialling policy, or an agent of a
queue: the consultation then waits in that queue's line like a caller (entry
``consult:<call id>``), and each agent it is handed rings with the caller's pop, marked
escalated; an agent who does not answer is passed over for the next. Whatever it is
that does not answer raises :class:`~ivr.agents.legs.NotReached`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from ivr.agents.desk_calls import DeskCalls, journal_pop
from ivr.agents.desk_commands import DeskCommand
from ivr.agents.dialling import Dialler, DialPolicy
from ivr.agents.legs import Leg, NotReached, dial_withdrawable
from ivr.agents.queues import QueueDesk
from ivr.agents.wakeups import AgentWakeups
from ivr.exceptions import DialRefused, TelephonyError
from ivr.telephony.interface import Call
from ivr.tickets.model import CallJournal

log = logging.getLogger(__name__)

EXTENSION_RING_SECONDS = 30.0
POLL_SECONDS = 1.0
CONSULT_PREFIX = "consult:"  # the line entry of a consultation waiting for a queue's agent


@dataclass(frozen=True)
class SecondLine:
    """Reaches the second line for the caller on ``caller``: what it uses, and the call
    (its journal and ticket make the pop of a ringing desk)."""

    desk: QueueDesk
    wakeups: AgentWakeups
    dialler: Dialler
    policy: DialPolicy
    desk_calls: DeskCalls | None
    caller: Call
    journal: CallJournal
    ticket_id: int | None

    @property
    def _call_id(self) -> str:
        return self.caller.info.call_id

    async def reach(self, command: DeskCommand, escalated: dict[str, Any]) -> Leg:
        """The second line answered (an agent of ``command.queue`` or the extension);
        ``escalated`` goes on a ringing agent's pop. Raises NotReached."""
        if command.queue:
            return await self._from_queue(command.queue, escalated)
        try:
            uri = self.policy.uri_for_extension(command.extension)
            leg = await dial_withdrawable(self.dialler, uri, EXTENSION_RING_SECONDS)
        except (DialRefused, TelephonyError) as exc:
            raise NotReached(str(exc)) from exc
        return Leg(leg, None, None)

    async def _from_queue(self, queue: str, escalated: dict[str, Any]) -> Leg:
        desk, wakeups = self.desk, self.wakeups
        settings = desk.settings[queue]
        entry = CONSULT_PREFIX + self._call_id
        excluded: set[str] = set()
        started = time.monotonic()
        try:
            await desk.line.join(queue, entry, time.time())
            while True:
                token = wakeups.token()
                claim = await desk.board.claim(queue, desk.line, entry, excluded)
                if claim.agent_id is not None:
                    leg = await self._ring(queue, claim.agent_id, escalated)
                    if leg is not None:
                        return leg
                    excluded.add(claim.agent_id)
                    await desk.line.not_connecting(queue, entry)
                    continue
                if not claim.queued:
                    await desk.line.join(queue, entry, time.time())
                    continue
                if (await desk.status(queue)).agents_staffed == 0:
                    raise NotReached(f"nobody is logged in to queue {queue}")
                if time.monotonic() - started > settings.max_wait_seconds:
                    raise NotReached(f"no agent of queue {queue} was free in time")
                await wakeups.wait(POLL_SECONDS, since=token)
        except (RedisError, OSError) as exc:
            raise NotReached(f"queue {queue} unavailable: {exc}") from exc
        finally:
            try:
                await desk.line.leave(queue, entry)
            except (RedisError, OSError) as exc:
                log.warning("could not take %s out of queue %s: %s", entry, queue, exc)

    async def _ring(self, queue: str, agent_id: str, escalated: dict[str, Any]) -> Leg | None:
        board = self.desk.board
        agent = board.settings(agent_id)
        assert agent is not None
        desk_calls = self.desk_calls
        try:
            uri = self.policy.check(agent.uri)
        except DialRefused as exc:
            await board.not_answered(agent_id, str(exc))
            return None
        if desk_calls is not None:
            pop = journal_pop(self.journal, self.ticket_id, self.caller.info.caller_number, queue)
            await desk_calls.ringing(agent_id, self._call_id, {**pop, "escalated": escalated})
        ring = self.desk.settings[queue].ring_timeout_seconds
        try:
            leg = await dial_withdrawable(self.dialler, uri, ring)
        except TelephonyError as exc:
            await board.not_answered(agent_id, str(exc))
            if desk_calls is not None:
                await desk_calls.missed(agent_id, self._call_id)
            return None
        except asyncio.CancelledError:
            await board.finished(agent_id, 0)
            if desk_calls is not None:
                await desk_calls.missed(agent_id, self._call_id)
            raise
        await board.answered(agent_id)
        if desk_calls is not None:
            await desk_calls.connected(agent_id, self._call_id)
        return Leg(leg, agent_id, queue)
