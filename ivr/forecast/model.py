"""The forecast from a history of calls per queue and interval; pure, no I/O.

Expected calls of an interval: the mean of the same weekday and interval over the
last weeks (the weeks the history reaches), scaled for today by how today's calls
so far compare with their forecast. Handling time: the queue's mean talk time over
the answered calls of the history, plus its wrap-up. Agents needed: the fewest whose
Erlang C average speed of answer keeps within the queue's service level, the
estimate the queues' waits use.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ivr.agents.estimate import erlang_c
from ivr.agents.settings import QueueSettings
from ivr.forecast.settings import ForecastSettings
from ivr.tickets.history import INTERVAL_SECONDS, IntervalCalls


@dataclass(frozen=True)
class IntervalForecast:
    start: float  # Unix seconds
    expected_calls: float
    actual_calls: int | None  # for intervals already begun; None ahead
    handle_seconds: float
    agents_needed: int


@dataclass(frozen=True)
class Backtest:
    """Past days forecast from their own past and compared with what happened."""

    days: int  # days that had history to be forecast from
    intervals: int  # intervals with calls forecast or received
    mean_absolute_error: float  # calls per interval
    relative_error: float | None  # summed absolute error / calls received; None: no calls


@dataclass(frozen=True)
class QueueForecast:
    queue: str
    service_level_seconds: float
    agents_signed_in: int
    adjustment: float  # today's scale: calls so far against their forecast
    intervals: tuple[IntervalForecast, ...]
    backtest: Backtest

    def at(self, moment: float) -> IntervalForecast | None:
        """The interval holding ``moment``, if the forecast reaches it."""
        for interval in self.intervals:
            if interval.start <= moment < interval.start + INTERVAL_SECONDS:
                return interval
        return None


class History:
    """Calls per (queue, slot), read from the ticket store."""

    def __init__(self, rows: Iterable[IntervalCalls]) -> None:
        self._rows = {(r.queue, r.slot): r for r in rows}
        self._first: dict[str, int] = {}
        for queue, slot in self._rows:
            self._first[queue] = min(slot, self._first.get(queue, slot))

    def calls(self, queue: str, slot: int) -> int:
        row = self._rows.get((queue, slot))
        return row.calls if row else 0

    def first_slot(self, queue: str) -> int | None:
        return self._first.get(queue)

    def handle_seconds(self, queue: str, settings: QueueSettings, before: int) -> float:
        """Mean talk time of the answered calls before slot ``before``, plus wrap-up;
        the queue's configured figure while none was answered."""
        answered, talk = 0, 0.0
        for (name, slot), row in self._rows.items():
            if name == queue and slot < before:
                answered += row.answered
                talk += row.talk_seconds
        if not answered:
            return settings.average_handle_seconds
        return talk / answered + settings.wrap_up_seconds


def slot_of(moment: float) -> int:
    return int(moment // INTERVAL_SECONDS)


def midnight(moment: float, zone: ZoneInfo) -> float:
    local = datetime.fromtimestamp(moment, zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def weeks_before(start: float, weeks: int, zone: ZoneInfo) -> float:
    """The same weekday and wall-clock time ``weeks`` weeks earlier (across DST)."""
    local = datetime.fromtimestamp(start, zone)
    return (local - timedelta(weeks=weeks)).timestamp()


def baseline(history: History, queue: str, start: float, settings: ForecastSettings) -> float:
    """Mean calls of the same weekday and interval over the weeks the history holds."""
    first = history.first_slot(queue)
    if first is None:
        return 0.0
    zone = ZoneInfo(settings.timezone)
    # A week counts when the history had begun by the start of that day.
    first_day = midnight(first * INTERVAL_SECONDS, zone)
    seen = [
        history.calls(queue, slot_of(then))
        for weeks in range(1, settings.weeks + 1)
        if (then := weeks_before(start, weeks, zone)) >= first_day
    ]
    return sum(seen) / len(seen) if seen else 0.0


def agents_needed(calls: float, handle_seconds: float, service_level_seconds: float) -> int:
    """The fewest agents whose Erlang C average speed of answer for ``calls`` in an
    interval stays within ``service_level_seconds``; 0 for no calls."""
    load = calls * handle_seconds / INTERVAL_SECONDS
    if load <= 0:
        return 0
    agents = max(1, math.ceil(load))
    while True:
        if agents > load:
            speed = erlang_c(agents, load) * handle_seconds / (agents - load)
            if speed <= service_level_seconds:
                return agents
        agents += 1


def day_starts(today: float, zone: ZoneInfo, count: int) -> list[float]:
    """Midnights of ``count`` days from the day of ``today`` on (wall clock)."""
    local = datetime.fromtimestamp(midnight(today, zone), zone)
    return [(local + timedelta(days=n)).timestamp() for n in range(count)]


def interval_starts(day_start: float, zone: ZoneInfo) -> list[float]:
    """The 15-minute intervals of the day starting at ``day_start`` (92-100 on DST days)."""
    end = day_starts(day_start, zone, 2)[1]
    return [float(t) for t in range(int(day_start), int(end), INTERVAL_SECONDS)]


def forecast_queue(
    history: History,
    queue: QueueSettings,
    settings: ForecastSettings,
    now: float,
    agents_signed_in: int,
) -> QueueForecast:
    """Today from midnight (past intervals with what happened) and all of tomorrow."""
    zone = ZoneInfo(settings.timezone)
    today, tomorrow = day_starts(now, zone, 2)
    current = slot_of(now)
    handle = history.handle_seconds(queue.name, queue, before=current + 1)
    plain = {
        start: baseline(history, queue.name, start, settings)
        for day in (today, tomorrow)
        for start in interval_starts(day, zone)
    }
    # Today's finished intervals tell how today runs against its forecast.
    past = [start for start in plain if start < tomorrow and slot_of(start) < current]
    expected_so_far = sum(plain[s] for s in past)
    actual_so_far = sum(history.calls(queue.name, slot_of(s)) for s in past)
    prior = settings.adjust_prior_calls
    scale = (actual_so_far + prior) / (expected_so_far + prior)
    scale = min(max(scale, 1 / settings.max_adjust), settings.max_adjust)
    intervals = []
    for start, expected in plain.items():
        begun = slot_of(start) <= current
        if start >= tomorrow:
            calls = expected
        else:
            calls = expected if slot_of(start) < current else expected * scale
        intervals.append(
            IntervalForecast(
                start=start,
                expected_calls=round(calls, 2),
                actual_calls=history.calls(queue.name, slot_of(start)) if begun else None,
                handle_seconds=round(handle, 1),
                agents_needed=agents_needed(calls, handle, queue.service_level_seconds),
            )
        )
    return QueueForecast(
        queue=queue.name,
        service_level_seconds=queue.service_level_seconds,
        agents_signed_in=agents_signed_in,
        adjustment=round(scale, 3),
        intervals=tuple(intervals),
        backtest=backtest(history, queue.name, settings, today),
    )


def backtest(history: History, queue: str, settings: ForecastSettings, today: float) -> Backtest:
    """Each of the ``backtest_days`` days before ``today`` forecast from the weeks before
    it (as it would have been at its midnight), against the calls it had."""
    zone = ZoneInfo(settings.timezone)
    first = history.first_slot(queue)
    local_today = datetime.fromtimestamp(today, zone)
    days, errors, received = 0, [], 0
    for back in range(settings.backtest_days, 0, -1):
        day = (local_today - timedelta(days=back)).timestamp()
        # Only days with at least one week of history before them.
        if first is None or weeks_before(day, 1, zone) < midnight(first * INTERVAL_SECONDS, zone):
            continue
        days += 1
        for start in interval_starts(day, zone):
            expected = baseline(history, queue, start, settings)
            actual = history.calls(queue, slot_of(start))
            if expected or actual:
                errors.append(abs(expected - actual))
                received += actual
    if not errors:
        return Backtest(days, 0, 0.0, None)
    return Backtest(
        days=days,
        intervals=len(errors),
        mean_absolute_error=round(sum(errors) / len(errors), 2),
        relative_error=round(sum(errors) / received, 3) if received else None,
    )


def needed_by_interval(forecasts: Mapping[str, QueueForecast]) -> dict[str, dict[float, int]]:
    return {
        name: {i.start: i.agents_needed for i in forecast.intervals}
        for name, forecast in forecasts.items()
    }
