"""Live figures of the queues: who waits, who is free, the estimated wait; break rules."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from callback.line import QueueLine
from ivr.agents.board import STAFFED, AgentBoard, AgentState, AgentView
from ivr.agents.estimate import estimated_wait_seconds
from ivr.agents.settings import QueueSettings
from ivr.exceptions import IvrError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueStatus:
    name: str
    waiting: int
    longest_wait_seconds: float
    agents_available: int
    agents_staffed: int
    average_handle_seconds: float
    estimated_wait_seconds: float  # for a caller joining now; inf when nobody is staffed


class StaffingOutlook(Protocol):
    """What the forecast tells the break rule and the callback offer (``ivr.forecast``
    provides one)."""

    async def break_possible_at(
        self, staffed_without: Mapping[str, int], now: float
    ) -> float | None:
        """When a break may begin, with ``staffed_without`` agents left in each queue:
        ``now`` when the forecast for the break's length keeps every queue's service
        level; else a later time; None when not within the forecast."""

    async def free_intervals(
        self, queue: str, staffed: int, since: float, until: float, now: float
    ) -> list[float]:
        """Starts of the intervals from ``since`` to ``until`` (Unix seconds) whose
        forecast as of ``now`` needs fewer than ``staffed`` agents: the valleys, where
        an agent is free."""


@dataclass(frozen=True)
class BreakDecision:
    allowed: bool
    possible_at: float | None = None  # held: when the forecast lets it start (None: unknown)


class QueueDesk:
    def __init__(
        self, board: AgentBoard, line: QueueLine, settings: Mapping[str, QueueSettings]
    ) -> None:
        self.board = board
        self.line = line
        self.settings = settings
        # Set once the service has a forecast; without one breaks follow the present only.
        self.outlook: StaffingOutlook | None = None

    async def status(
        self, name: str, views: list[AgentView] | None = None, leaving: str | None = None
    ) -> QueueStatus:
        """``leaving``: an agent to count out (is the queue fine without them?)."""
        settings = self.settings[name]
        views = await self.board.views() if views is None else views
        members = [v for v in views if name in v.queues and v.id != leaving]
        available = sum(v.state is AgentState.AVAILABLE for v in members)
        staffed = sum(v.state.value in STAFFED for v in members)
        waiting = await self.line.length(name)
        handle = await self.line.average_handle_seconds(name, settings.average_handle_seconds)
        wait = estimated_wait_seconds(
            ahead=waiting,
            agents_available=available,
            agents_staffed=staffed,
            average_handle_seconds=handle,
            arrivals_per_second=await self.line.arrivals_per_second(name),
        )
        return QueueStatus(
            name=name,
            waiting=waiting,
            longest_wait_seconds=await self.line.longest_wait(name),
            agents_available=available,
            agents_staffed=staffed,
            average_handle_seconds=handle,
            estimated_wait_seconds=wait,
        )

    async def wait_for_place(self, name: str, ahead: int, available: int) -> float:
        """Estimated wait of a caller with ``ahead`` callers in front of them."""
        settings = self.settings[name]
        views = await self.board.views()
        staffed = sum(v.state.value in STAFFED for v in views if name in v.queues)
        return estimated_wait_seconds(
            ahead=ahead,
            agents_available=available,
            agents_staffed=staffed,
            average_handle_seconds=await self.line.average_handle_seconds(
                name, settings.average_handle_seconds
            ),
            arrivals_per_second=await self.line.arrivals_per_second(name),
        )

    async def request_state(
        self, agent_id: str, state: AgentState, now: float | None = None
    ) -> str:
        """What the desk, the API and the agent's phone ask for: ``available``,
        ``offline`` or ``break`` (held at a peak or on a call, see
        :meth:`AgentBoard.set_requested`); returns the state taken, e.g.
        ``"available (break requested)"``. ``now``: Unix seconds (default: the clock)."""
        if state is not AgentState.BREAK:
            return await self.board.set_requested(agent_id, state, True)
        decision = await self.break_decision(agent_id, now)
        return await self.board.set_requested(
            agent_id, state, decision.allowed, decision.possible_at or 0.0
        )

    async def grant_held_breaks(self, now: float | None = None) -> list[str]:
        """Start the breaks that were held at a peak, where the queues can now spare
        the agent; returns who went on break. A break still held gets the time the
        forecast now gives it."""
        granted = []
        for view in await self.board.views():
            if view.break_requested and view.state is AgentState.AVAILABLE:
                decision = await self.break_decision(view.id, now)
                if decision.allowed:
                    if await self.board.start_break(view.id):
                        granted.append(view.id)
                elif (decision.possible_at or 0.0) != view.break_at:
                    await self.board.hold_break(view.id, decision.possible_at or 0.0)
        return granted

    async def break_decision(self, agent_id: str, now: float | None = None) -> BreakDecision:
        """A break is granted while every queue of the agent keeps its estimated
        wait within its service level without them (breaks are deferred at a peak)
        and, with a forecast, while the forecast for the break's length still keeps
        every queue's service level with one agent fewer; held otherwise, with the
        time the forecast lets it start."""
        agent = self.board.settings(agent_id)
        if agent is None:
            return BreakDecision(False)
        now = time.time() if now is None else now
        views = await self.board.views()
        busy_now = False
        staffed_without = {}
        for queue in agent.queues:
            status = await self.status(queue, views, leaving=agent_id)
            staffed_without[queue] = status.agents_staffed
            if status.waiting and (
                status.estimated_wait_seconds > self.settings[queue].service_level_seconds
            ):
                busy_now = True
        if self.outlook is None:
            return BreakDecision(not busy_now)
        try:
            possible_at = await self.outlook.break_possible_at(staffed_without, now)
        except IvrError as exc:  # no history to read (the ticket database is away)
            log.warning("break of %s decided without the forecast: %s", agent_id, exc)
            return BreakDecision(not busy_now)
        if possible_at is not None and possible_at <= now:
            # By the forecast now; held only while callers wait past the level.
            return BreakDecision(not busy_now)
        return BreakDecision(False, possible_at)
