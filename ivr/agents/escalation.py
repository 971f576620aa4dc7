"""Escalation from the agent desk: the caller handed to the second line, blind or attended.

While an agent talks to a caller (a bridged transfer), the conversation also takes
the commands of that agent's desk (:mod:`ivr.agents.desk_commands`):

- ``blind`` to a queue: the agent's leg is hung up and the caller joins that queue's
  line (the transfer goes on there, :class:`~ivr.agents.transfer.AgentTransfer`); the
  next agent's desk pops the same ticket, marked escalated by whom.
- ``blind`` to an extension: the agent is released, the caller hears hold music while
  the extension rings, then talks to it; unanswered, the caller goes back into the
  queue they came from.
- ``consult`` (attended): the caller hears hold music while the agent's leg reaches
  the second line (an extension, or an agent of a queue, waiting in its line like a
  caller); the two talk; ``complete`` (or the first agent hanging up) joins the caller
  and the second line and releases the first agent; ``cancel`` (or the second line
  hanging up) returns the agent to the caller.

The second line is reached by :mod:`ivr.agents.escalation_reach` (extensions only
through the dialling policy). Every step is an ``escalation`` event on the call's
ticket and shows on the desks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

from ivr.agents.desk_calls import DeskCalls
from ivr.agents.desk_commands import DeskCommand, DeskCommands
from ivr.agents.dialling import Dialler, DialPolicy
from ivr.agents.escalation_reach import SecondLine
from ivr.agents.legs import (
    Leg,
    NotReached,
    cancelled,
    connect,
    first_of,
    part,
    until_end,
)
from ivr.agents.queues import QueueDesk
from ivr.agents.wakeups import AgentWakeups
from ivr.media.hold_music import HoldMusic
from ivr.telephony.interface import Call
from ivr.tickets.model import CallJournal

log = logging.getLogger(__name__)


class Bridges(Protocol):
    """Who else follows the caller's bridge (supervisors' monitors, ivr.agents.monitor)."""

    async def bridged(
        self, call_id: str, caller: Call, agent: Call, agent_id: str | None, journal: CallJournal
    ) -> None: ...

    async def unbridged(self, call_id: str) -> None: ...


@dataclass(frozen=True)
class EscalationServices:
    desk: QueueDesk
    wakeups: AgentWakeups
    dialler: Dialler
    policy: DialPolicy
    commands: DeskCommands
    desk_calls: DeskCalls | None = None
    bridges: Bridges | None = None


@dataclass(frozen=True)
class Requeue:
    """The caller is to wait in ``queue`` next; ``escalated`` goes on the next desk's pop."""

    queue: str
    escalated: dict[str, Any]


@dataclass
class TalkEnd:
    caller_left: bool
    agent: str | None  # who talked to the caller last (None: an extension)
    requeue: Requeue | None = None
    first_released: bool = False  # the first agent was released (wrap-up) already


class Conversation:
    """The caller and an agent talking until one hangs up, with the agent's escalations."""

    def __init__(
        self,
        caller: Call,
        leg: Call,
        agent_id: str,
        queue: str | None,
        services: EscalationServices,
        journal: CallJournal,
        ticket_id: int | None,
    ) -> None:
        self._caller = caller
        self._first = Leg(leg, agent_id, queue)
        self._current = self._first
        self._services = services
        self._journal = journal
        self._ticket_id = ticket_id
        self._first_released = False
        self._legs = [self._first]
        self._second_line = SecondLine(
            services.desk,
            services.wakeups,
            services.dialler,
            services.policy,
            services.desk_calls,
            caller,
            journal,
            ticket_id,
        )

    @property
    def _call_id(self) -> str:
        return self._caller.info.call_id

    async def run(self) -> TalkEnd:
        """Talk (the legs bridged) until the caller or the last agent hangs up, or a blind
        escalation to a queue takes the caller on. Every leg but the caller's is hung up
        and every agent reached here (not the first) released at the end."""
        caller_end = asyncio.ensure_future(until_end(self._caller))
        try:
            with self._services.commands.listening(self._call_id) as inbox:
                connect(self._caller, self._first.call)
                return await self._talk(inbox, caller_end)
        finally:
            self._caller.bridge(None)
            for leg in self._legs:
                leg.call.bridge(None)
                await leg.call.hangup()
                leg.end.cancel()
                if leg is not self._first and leg.agent is not None:
                    await self._release(leg, wrap_up=True)
            caller_end.cancel()
            await asyncio.gather(
                caller_end, *(leg.end for leg in self._legs), return_exceptions=True
            )

    def _end(self, caller_left: bool, requeue: Requeue | None = None) -> TalkEnd:
        return TalkEnd(caller_left, self._current.agent, requeue, self._first_released)

    async def _talk(
        self, inbox: asyncio.Queue[DeskCommand], caller_end: asyncio.Future[None]
    ) -> TalkEnd:
        while True:
            current = self._current
            got = await first_of(inbox, caller_end, current.end)
            if got is caller_end:
                return self._end(caller_left=True)
            if got is current.end:
                return self._end(caller_left=False)
            assert isinstance(got, DeskCommand)
            refusal = self._refusal(got, ("blind", "consult"))
            if refusal:
                await self._services.commands.answer(got, {"ok": False, "error": refusal})
                continue
            if got.action == "blind":
                ended = await self._blind(got, caller_end)
            else:
                ended = await self._consult(got, inbox, caller_end)
            if ended is not None:
                return ended

    def _refusal(self, command: DeskCommand, actions: tuple[str, ...]) -> str:
        if command.agent != self._current.agent:
            return f"agent {command.agent} is not talking to this caller"
        if command.action not in actions:
            return f"{command.action} is not possible now (possible: {', '.join(actions)})"
        if command.queue and command.queue not in self._services.desk.settings:
            return f"no queue {command.queue!r} is configured"
        return ""

    # -- blind ---------------------------------------------------------------------------

    async def _blind(
        self, command: DeskCommand, caller_end: asyncio.Future[None]
    ) -> TalkEnd | None:
        agent = self._current
        escalated = self._escalated(command, "blind")
        await self._services.commands.answer(command, {"ok": True, "state": "transferred"})
        self._event(command, "blind", "transferred")
        await self._desk_state(agent, command, "blind", "transferred")
        await self._part_caller(agent)
        await agent.call.hangup()
        if command.queue:
            return self._end(caller_left=False, requeue=Requeue(command.queue, escalated))
        await self._release(agent, wrap_up=True)
        music = HoldMusic(self._caller)
        music.start()
        reach = asyncio.ensure_future(self._second_line.reach(command, escalated))
        try:
            got = await first_of(None, caller_end, reach)
        finally:
            await music.stop()
        if got is caller_end:
            await cancelled(reach)
            return self._end(caller_left=True)
        try:
            second = reach.result()
        except NotReached as exc:
            self._event(command, "blind", "failed", reason=str(exc))
            back = agent.queue or command.queue
            if not back:
                return self._end(caller_left=False)
            return self._end(False, Requeue(back, {**escalated, "returned": str(exc)}))
        self._adopt(second)
        await self._join_caller(second)
        self._event(command, "blind", "connected")
        return None

    # -- attended ------------------------------------------------------------------------

    async def _consult(
        self,
        command: DeskCommand,
        inbox: asyncio.Queue[DeskCommand],
        caller_end: asyncio.Future[None],
    ) -> TalkEnd | None:
        first = self._current
        escalated = self._escalated(command, "attended")
        await self._part_caller(first)
        caller_music, agent_music = HoldMusic(self._caller), HoldMusic(first.call)
        caller_music.start()
        agent_music.start()
        await self._services.commands.answer(command, {"ok": True, "state": "dialling"})
        self._event(command, "attended", "dialling")
        await self._desk_state(first, command, "attended", "dialling")
        reach = asyncio.ensure_future(self._second_line.reach(command, escalated))
        try:
            while True:
                got = await first_of(inbox, caller_end, first.end, reach)
                if got is reach:
                    break
                if got is caller_end or got is first.end:
                    await cancelled(reach)
                    await caller_music.stop()
                    return self._end(caller_left=got is caller_end)
                assert isinstance(got, DeskCommand)
                refusal = self._refusal(got, ("cancel",))
                if refusal:
                    await self._services.commands.answer(got, {"ok": False, "error": refusal})
                    continue
                await cancelled(reach)
                await self._services.commands.answer(got, {"ok": True, "state": "cancelled"})
                await self._back_to_caller(first, command, "cancelled", "", caller_music)
                return None
            try:
                second = reach.result()
            except NotReached as exc:
                await self._back_to_caller(first, command, "failed", str(exc), caller_music)
                return None
        finally:
            await agent_music.stop()
        self._legs.append(second)
        connect(first.call, second.call)
        self._event(command, "attended", "consulting", second_agent=second.agent)
        await self._desk_state(first, command, "attended", "consulting", second.agent)
        while True:
            got = await first_of(inbox, caller_end, first.end, second.end)
            if got is caller_end:
                await caller_music.stop()
                return self._end(caller_left=True)
            if isinstance(got, DeskCommand):
                refusal = self._refusal(got, ("complete", "cancel"))
                if refusal:
                    await self._services.commands.answer(got, {"ok": False, "error": refusal})
                    continue
                state = "completed" if got.action == "complete" else "cancelled"
                await self._services.commands.answer(got, {"ok": True, "state": state})
            else:
                state = "completed" if got is first.end else "cancelled"
            part(first.call, second.call)
            if state == "cancelled":
                self._legs.remove(second)
                await second.call.hangup()
                await self._release(second, wrap_up=True)
                await self._back_to_caller(first, command, "cancelled", "", caller_music)
                return None
            await first.call.hangup()
            await self._release(first, wrap_up=True)
            await caller_music.stop()
            self._adopt(second)
            await self._join_caller(second)
            self._event(command, "attended", "completed", second_agent=second.agent)
            await self._desk_state(first, command, "attended", "completed", second.agent)
            return None

    async def _back_to_caller(
        self, first: Leg, command: DeskCommand, state: str, reason: str, music: HoldMusic
    ) -> None:
        await music.stop()
        await self._join_caller(first)
        self._event(command, "attended", state, **({"reason": reason} if reason else {}))
        await self._desk_state(first, command, "attended", state, reason=reason)

    async def _part_caller(self, leg: Leg) -> None:
        """The caller leaves ``leg`` (hold, or the agent drops): a monitor on it ends."""
        part(self._caller, leg.call)
        if self._services.bridges is not None:
            await self._services.bridges.unbridged(self._call_id)

    async def _join_caller(self, leg: Leg) -> None:
        connect(self._caller, leg.call)
        if self._services.bridges is not None:
            await self._services.bridges.bridged(
                self._call_id, self._caller, leg.call, leg.agent, self._journal
            )

    def _adopt(self, leg: Leg) -> None:
        """``leg`` talks to the caller from now on."""
        if leg not in self._legs:
            self._legs.append(leg)
        if self._current in self._legs and self._current is not self._first:
            self._legs.remove(self._current)
        self._current = leg
        if leg.agent is not None:
            self._journal.handling.agent_id = leg.agent

    # -- bookkeeping ---------------------------------------------------------------------

    async def _release(self, leg: Leg, wrap_up: bool) -> None:
        """The agent of ``leg`` is done with this caller: their queue's wrap-up, then free."""
        if leg.agent is None:
            return
        if leg is self._first:
            if self._first_released:
                return
            self._first_released = True
        settings = self._services.desk.settings.get(leg.queue or "")
        seconds = settings.wrap_up_seconds if settings is not None and wrap_up else 0.0
        try:
            await self._services.desk.board.finished(leg.agent, seconds)
        except (RedisError, OSError) as exc:
            log.warning("agent %s not released after an escalation: %s", leg.agent, exc)
        if self._services.desk_calls is not None:
            await self._services.desk_calls.ended(leg.agent, self._call_id)

    def _escalated(self, command: DeskCommand, mode: str) -> dict[str, Any]:
        """What the second line's desk shows of how the call came to them."""
        agent = self._services.desk.board.settings(command.agent)
        return {
            "by": command.agent,
            "by_name": agent.name if agent is not None else command.agent,
            "mode": mode,
            "from_queue": self._current.queue,
            "queue": command.queue or None,
            "extension": command.extension or None,
            "at": time.time(),
        }

    def _event(self, command: DeskCommand, mode: str, phase: str, **detail: Any) -> None:
        target = {"queue": command.queue} if command.queue else {"extension": command.extension}
        self._journal.event(
            "escalation",
            agent=command.agent,
            by=command.actor or command.agent,
            mode=mode,
            phase=phase,
            **target,
            **detail,
        )

    async def _desk_state(
        self,
        leg: Leg,
        command: DeskCommand,
        mode: str,
        state: str,
        second_agent: str | None = None,
        reason: str = "",
    ) -> None:
        if self._services.desk_calls is None or leg.agent is None:
            return
        await self._services.desk_calls.escalation(
            leg.agent,
            self._call_id,
            {
                "mode": mode,
                "state": state,
                "queue": command.queue or None,
                "extension": command.extension or None,
                "second_agent": second_agent,
                "reason": reason,
                "at": time.time(),
            },
        )
