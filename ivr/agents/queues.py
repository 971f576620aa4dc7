"""Live figures of the queues: who waits, who is free, the estimated wait; break rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from callback.line import QueueLine
from ivr.agents.board import STAFFED, AgentBoard, AgentState, AgentView
from ivr.agents.estimate import estimated_wait_seconds
from ivr.agents.settings import QueueSettings


@dataclass(frozen=True)
class QueueStatus:
    name: str
    waiting: int
    longest_wait_seconds: float
    agents_available: int
    agents_staffed: int
    average_handle_seconds: float
    estimated_wait_seconds: float  # for a caller joining now; inf when nobody is staffed


class QueueDesk:
    def __init__(
        self, board: AgentBoard, line: QueueLine, settings: Mapping[str, QueueSettings]
    ) -> None:
        self.board = board
        self.line = line
        self.settings = settings

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

    async def request_state(self, agent_id: str, state: AgentState) -> str:
        """What the desk, the API and the agent's phone ask for: ``available``,
        ``offline`` or ``break`` (held at a peak or on a call, see
        :meth:`AgentBoard.set_requested`); returns the state taken, e.g.
        ``"available (break requested)"``."""
        allowed = state is not AgentState.BREAK or await self.break_allowed(agent_id)
        return await self.board.set_requested(agent_id, state, allowed)

    async def grant_held_breaks(self) -> list[str]:
        """Start the breaks that were held at a peak, where the queues can now spare
        the agent; returns who went on break."""
        granted = []
        for view in await self.board.views():
            if view.break_requested and view.state is AgentState.AVAILABLE:
                if await self.break_allowed(view.id) and await self.board.start_break(view.id):
                    granted.append(view.id)
        return granted

    async def break_allowed(self, agent_id: str) -> bool:
        """A break is granted while every queue of the agent keeps its estimated
        wait within its service level without them (breaks are deferred at a peak)."""
        agent = self.board.settings(agent_id)
        if agent is None:
            return False
        views = await self.board.views()
        for queue in agent.queues:
            status = await self.status(queue, views, leaving=agent_id)
            if status.waiting and (
                status.estimated_wait_seconds > self.settings[queue].service_level_seconds
            ):
                return False
        return True
