"""Replaying a day's arrivals against a staffing, with and without peak shaving.

Second by second: callers join one line and are served in order by the agents on
duty; a caller whose wait passes their patience abandons. With shaving, a caller
whose estimated wait is above the service level is offered a callback (a seeded
share accepts), and booked callbacks are dialled only when an agent is free and no
live caller waits (the valleys); an agent's break is held while callers wait beyond
the service level or while the forecast for the break's length (here the day's own
calls per interval, Erlang C) needs every agent on duty. Without it every caller
holds and every break starts when asked (once the agent's call ends).
Same arrivals and seed, same figures.
"""

from __future__ import annotations

import csv
import math
import random
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ivr.exceptions import IvrError
from ivr.forecast.model import agents_needed
from ivr.tickets.history import INTERVAL_SECONDS

DAY_SECONDS = 86400


@dataclass(frozen=True)
class Arrival:
    at: float  # seconds after midnight
    handle_seconds: float
    patience_seconds: float  # how long they hold before hanging up


@dataclass(frozen=True)
class SimulationSettings:
    staffing: tuple[tuple[float, int], ...]  # (from second of the day, agents on duty)
    shaving: bool
    service_level_seconds: float = 60.0
    accept_callback: float = 0.6  # share of offered callers who take a callback
    break_minutes: float = 15.0
    breaks_per_agent: int = 1  # asked for at seeded times while on duty
    # or at these seconds of the day, one agent each (agent 0 first)
    break_times: tuple[float, ...] = ()
    seed: int = 1


@dataclass(frozen=True)
class SimulationResult:
    calls: int
    answered: int
    abandoned: int
    mean_wait_seconds: float  # of live callers answered or abandoned
    p90_wait_seconds: float
    within_service_level: float  # share of live callers answered within it
    callbacks_booked: int
    callbacks_served: int
    mean_callback_delay_seconds: float  # from booking to the agent's call
    breaks_taken: int
    break_held_minutes: float  # summed delay of breaks past when they were asked for

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.calls if self.calls else 0.0


class SimulationError(IvrError):
    """A day file or a staffing that cannot be read."""


def read_day(path: Path, handle_seconds: float, patience_seconds: float) -> list[Arrival]:
    """Arrivals from a CSV with ``arrived_at`` (``HH:MM[:SS]`` or ISO 8601) and optional
    ``handle_seconds`` and ``patience_seconds`` columns (else the defaults given)."""
    arrivals = []
    try:
        with path.open(newline="", encoding="utf-8") as file:
            for number, row in enumerate(csv.DictReader(file), start=2):
                try:
                    arrivals.append(
                        Arrival(
                            at=_second_of_day(row["arrived_at"]),
                            handle_seconds=float(row.get("handle_seconds") or handle_seconds),
                            patience_seconds=float(row.get("patience_seconds") or patience_seconds),
                        )
                    )
                except (KeyError, ValueError) as exc:
                    raise SimulationError(f"{path}:{number}: {exc!r} (row {row})") from None
    except OSError as exc:
        raise SimulationError(f"{path}: {exc.strerror}") from exc
    return sorted(arrivals, key=lambda a: a.at)


def _second_of_day(text: str) -> float:
    text = text.strip()
    if "T" in text or "-" in text:
        moment = datetime.fromisoformat(text)
        return moment.hour * 3600 + moment.minute * 60 + moment.second
    parts = [int(p) for p in text.split(":")]
    if not 2 <= len(parts) <= 3:
        raise ValueError(f"time {text!r}: expected HH:MM[:SS]")
    return parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) == 3 else 0)


def parse_staffing(text: str) -> tuple[tuple[float, int], ...]:
    """``"4"`` (all day) or ``"08:00=3,10:00=5,12:00=3"`` (from each time on)."""
    try:
        if "=" not in text:
            return ((0.0, int(text)),)
        steps = []
        for part in text.split(","):
            clock, agents = part.split("=")
            steps.append((_second_of_day(clock), int(agents)))
    except ValueError:
        raise SimulationError(
            f"staffing {text!r}: expected N or HH:MM=N,HH:MM=N,... (agents from each time)"
        ) from None
    return tuple(sorted(steps))


def parse_break_times(text: str) -> tuple[float, ...]:
    """``"10:05,10:20"``: the first agent asks for a break at 10:05, the second at 10:20."""
    try:
        return tuple(_second_of_day(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise SimulationError(f"breaks {text!r}: expected HH:MM,HH:MM,...") from None


def _on_duty(staffing: tuple[tuple[float, int], ...], second: float) -> int:
    agents = 0
    for start, count in staffing:
        if start <= second:
            agents = count
    return agents


def simulate(arrivals: list[Arrival], settings: SimulationSettings) -> SimulationResult:
    """Replay ``arrivals`` (sorted by time) second by second until every caller and
    callback is served or gone (at most six hours after midnight)."""
    replay = _Replay(arrivals, settings)
    pending = deque(arrivals)
    now = 0.0
    for second in range(DAY_SECONDS + 6 * 3600):
        now = float(second)
        replay.tick(now, pending)
        if not pending and not replay.line and not replay.callbacks and now >= DAY_SECONDS:
            break
    return replay.result(now)


class _Replay:
    """One day's line, callbacks, agents and breaks, advanced a second at a time."""

    def __init__(self, arrivals: list[Arrival], settings: SimulationSettings) -> None:
        self.settings = settings
        self.calls = len(arrivals)
        self.rng = random.Random(settings.seed)
        most = max((count for _, count in settings.staffing), default=0)
        self.busy_until = [0.0] * most
        self.break_until = [0.0] * most
        # Each agent's break requests, at seeded minutes while the staffing has them.
        self.requests: list[list[float]] = []
        for agent in range(most):
            if settings.break_times:
                given = settings.break_times[agent : agent + 1]
                self.requests.append([float(t) for t in given])
                continue
            duty = [s for s in range(0, DAY_SECONDS, 60) if agent < _on_duty(settings.staffing, s)]
            count = settings.breaks_per_agent if duty else 0
            self.requests.append(sorted(float(self.rng.choice(duty)) for _ in range(count)))
        handles = [a.handle_seconds for a in arrivals]
        self.average_handle = sum(handles) / len(handles) if handles else 240.0
        # The rules' forecast is the day's own calls per interval (a perfect forecast).
        calls: dict[int, int] = {}
        for arrival in arrivals:
            calls[int(arrival.at // INTERVAL_SECONDS)] = (
                calls.get(int(arrival.at // INTERVAL_SECONDS), 0) + 1
            )
        self.needed = {
            slot: agents_needed(count, self.average_handle, settings.service_level_seconds)
            for slot, count in calls.items()
        }
        self.line: deque[tuple[float, Arrival]] = deque()
        self.callbacks: deque[tuple[float, Arrival]] = deque()
        self.waits: list[float] = []
        self.delays: list[float] = []
        self.answered = self.within = self.abandoned = self.booked = self.taken = 0
        self.held_seconds = 0.0

    def tick(self, now: float, pending: deque[Arrival]) -> None:
        duty = _on_duty(self.settings.staffing, min(now, DAY_SECONDS - 1))
        working = [a for a in range(duty) if self.break_until[a] <= now]
        free = [a for a in working if self.busy_until[a] <= now]
        while pending and pending[0].at <= now:
            self._arrive(now, pending.popleft(), len(working), len(free))
        self._abandon(now)
        for agent in free:
            self._maybe_break(now, agent, len(working), len(free))
        for agent in free:
            if self.break_until[agent] <= now:
                self._serve(now, agent)

    def _estimate(self, agents: int, free: int) -> float:
        """The wait of one more caller by their place, as the queues estimate it."""
        if agents <= 0:
            return float("inf")
        return max(0.0, (len(self.line) + 1 - free) * self.average_handle / agents)

    def _arrive(self, now: float, arrival: Arrival, working: int, free: int) -> None:
        if self.settings.shaving and self._estimate(working, free) > (
            self.settings.service_level_seconds
        ):
            if self.rng.random() < self.settings.accept_callback:
                self.callbacks.append((now, arrival))
                self.booked += 1
                return
        self.line.append((now, arrival))

    def _abandon(self, now: float) -> None:
        if not any(now - joined > a.patience_seconds for joined, a in self.line):
            return
        kept: deque[tuple[float, Arrival]] = deque()
        for joined, arrival in self.line:
            if now - joined > arrival.patience_seconds:
                self.waits.append(now - joined)
                self.abandoned += 1
            else:
                kept.append((joined, arrival))
        self.line = kept

    def _maybe_break(self, now: float, agent: int, working: int, free: int) -> None:
        due = self.requests[agent]
        if not due or due[0] > now:
            return
        # The rules hold a break while the queue, one agent fewer, waits past its level
        # or the forecast for the break's length needs every agent on duty.
        if self.settings.shaving:
            if self.line and (
                self._estimate(working - 1, free - 1) > self.settings.service_level_seconds
            ):
                return
            end = now + self.settings.break_minutes * 60
            slots = range(int(now // INTERVAL_SECONDS), int((end - 1) // INTERVAL_SECONDS) + 1)
            if any(self.needed.get(slot, 0) > working - 1 for slot in slots):
                return
        self.held_seconds += now - due.pop(0)
        self.break_until[agent] = now + self.settings.break_minutes * 60
        self.taken += 1

    def _serve(self, now: float, agent: int) -> None:
        if self.line:
            joined, arrival = self.line.popleft()
            self.waits.append(now - joined)
            self.answered += 1
            self.within += now - joined <= self.settings.service_level_seconds
        elif self.callbacks:
            booked_at, arrival = self.callbacks.popleft()
            self.delays.append(now - booked_at)
        else:
            return
        self.busy_until[agent] = now + arrival.handle_seconds

    def result(self, now: float) -> SimulationResult:
        # Breaks asked for and never started count as held until the replay's end.
        held = self.held_seconds + sum(now - t for due in self.requests for t in due if t < now)
        live = self.answered + self.abandoned
        waits, delays = self.waits, self.delays
        return SimulationResult(
            calls=self.calls,
            answered=self.answered,
            abandoned=self.abandoned,
            mean_wait_seconds=round(sum(waits) / len(waits), 1) if waits else 0.0,
            p90_wait_seconds=_percentile(waits, 0.9),
            within_service_level=round(self.within / live, 3) if live else 1.0,
            callbacks_booked=self.booked,
            callbacks_served=len(delays),
            mean_callback_delay_seconds=round(sum(delays) / len(delays), 1) if delays else 0.0,
            breaks_taken=self.taken,
            break_held_minutes=round(held / 60, 1),
        )


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)], 1)
