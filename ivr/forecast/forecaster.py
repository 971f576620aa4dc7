"""The forecast read from the ticket store and the agent board, and what it tells
the break rule and the callback offer (see :class:`ivr.agents.queues.StaffingOutlook`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ivr.agents.board import STAFFED, AgentBoard
from ivr.forecast.model import (
    History,
    QueueForecast,
    forecast_queue,
    midnight,
    slot_of,
)
from ivr.forecast.settings import ForecastSettings
from ivr.tickets.history import INTERVAL_SECONDS
from ivr.tickets.store import TicketStore

CACHE_SECONDS = 60.0  # the history is read at most once a minute


class Forecaster:
    def __init__(
        self,
        tickets: TicketStore,
        settings: ForecastSettings,
        board: AgentBoard | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock``: what "now" is where the caller gives none (tests fix it)."""
        self._tickets = tickets
        self.clock = clock
        self.settings = settings
        self._board = board
        self._cached: tuple[float, History] | None = None
        # The last forecast, for the same history and quarter (breaks ask every few seconds).
        self._computed: tuple[History, int, dict[str, QueueForecast]] | None = None

    async def history(self, now: float) -> History:
        """Calls per queue and interval from the first day any forecast or back-test
        looks at up to ``now`` (read again after ``CACHE_SECONDS``)."""
        if self._cached and 0 <= now - self._cached[0] < CACHE_SECONDS:
            return self._cached[1]
        zone = ZoneInfo(self.settings.timezone)
        today = datetime.fromtimestamp(midnight(now, zone), zone)
        reach = timedelta(weeks=self.settings.weeks, days=self.settings.backtest_days)
        rows = await self._tickets.queue_history((today - reach).timestamp(), now)
        history = History(rows)
        self._cached = (now, history)
        return history

    async def signed_in(self) -> dict[str, int]:
        """Agents working each queue now (available, ringing, on a call, wrapping up)."""
        if self._board is None:
            return {}
        counts = dict.fromkeys(self.settings.queues, 0)
        for view in await self._board.views():
            if view.state.value in STAFFED:
                for queue in view.queues:
                    counts[queue] = counts.get(queue, 0) + 1
        return counts

    async def forecast(self, now: float) -> dict[str, QueueForecast]:
        """Every configured queue's forecast, today and tomorrow (times: Unix seconds)."""
        history = await self.history(now)
        staffed = await self.signed_in()
        if self._computed and self._computed[:2] == (history, slot_of(now)):
            computed = self._computed[2]
        else:
            computed = {
                name: forecast_queue(history, queue, self.settings, now, 0)
                for name, queue in self.settings.queues.items()
            }
            self._computed = (history, slot_of(now), computed)
        return {
            name: replace(forecast, agents_signed_in=staffed.get(name, 0))
            for name, forecast in computed.items()
        }

    async def break_possible_at(
        self, staffed_without: Mapping[str, int], now: float
    ) -> float | None:
        """When a break may begin: ``now`` when every queue of ``staffed_without`` (its
        agents without the one asking) keeps its service level over the break's length
        by the forecast; else the start of the first interval from which it does; None
        when the forecast (to the end of tomorrow) has no such interval."""
        forecasts = await self.forecast(now)
        length = self.settings.break_minutes * 60
        short: list[tuple[float, float]] = []  # intervals some queue cannot spare one in
        for name, agents in staffed_without.items():
            forecast = forecasts.get(name)
            if forecast is None:
                continue
            short += [
                (i.start, i.start + INTERVAL_SECONDS)
                for i in forecast.intervals
                if i.agents_needed > agents and i.start + INTERVAL_SECONDS > now
            ]
        horizon = max(
            (i.start + INTERVAL_SECONDS for f in forecasts.values() for i in f.intervals),
            default=now,
        )
        start = now
        while start + length <= horizon:
            clash = [end for begin, end in short if begin < start + length and end > start]
            if not clash:
                return start
            start = float(max(clash))
        return None

    async def free_intervals(
        self, queue: str, staffed: int, since: float, until: float, now: float
    ) -> list[float]:
        """Starts of the intervals beginning in ``[since, until)`` whose forecast as of
        ``now`` needs fewer than ``staffed`` agents (one left free: a valley for callbacks)."""
        found = (await self.forecast(now)).get(queue)
        if found is None:
            return []
        return [
            i.start
            for i in found.intervals
            if since <= i.start < until and i.agents_needed < staffed
        ]
