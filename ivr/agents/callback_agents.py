"""The agents the callback dispatcher reserves: by the same rule as for live callers,
and with a forecast only in a valley (see :class:`BoardAgents`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from callback.line import QueueLine
from ivr.agents.board import AgentBoard
from ivr.agents.queues import QueueDesk
from ivr.exceptions import IvrError

log = logging.getLogger(__name__)

FORECAST_INTERVAL_SECONDS = 900  # the forecast's quarter


class BoardAgents:
    """Reserves agents for callbacks by the same rule as for live callers; with a
    forecast, only in a valley: while the current quarter's forecast needs every agent
    signed in, callbacks wait so they do not push the live queue past its level."""

    def __init__(
        self,
        board: AgentBoard,
        line: QueueLine,
        desk: QueueDesk | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._board = board
        self._line = line
        self._desk = desk  # its outlook, once the service has a forecast
        self._clock = clock

    async def claim(self, queue: str, entry: str) -> str | None:
        if not await self._slack(queue):
            return None
        return (await self._board.claim(queue, self._line, entry, set())).agent_id

    async def _slack(self, queue: str) -> bool:
        """Whether the forecast leaves an agent free this quarter (True without one)."""
        outlook = self._desk.outlook if self._desk is not None else None
        if outlook is None or self._desk is None or queue not in self._desk.settings:
            return True
        now = self._clock()
        quarter = now - now % FORECAST_INTERVAL_SECONDS
        try:
            status = await self._desk.status(queue)
            free = await outlook.free_intervals(
                queue, status.agents_staffed, quarter, quarter + 1, now
            )
        except IvrError as exc:
            log.debug("callbacks of %s paced without the forecast: %s", queue, exc)
            return True
        return bool(free)

    async def release(self, agent_id: str) -> None:
        await self._board.finished(agent_id, 0)
