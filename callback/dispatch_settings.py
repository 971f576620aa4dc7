"""When and how the callback dispatcher dials: the calling hours, attempts and their
backoff, leases, and the value rule (``callback.dispatcher`` reads them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from callback.value import ValueRule


@dataclass(frozen=True)
class CallingHours:
    """When customers may be called: weekdays (Monday 0) between ``opens`` and ``closes``."""

    timezone: str = "UTC"
    weekdays: frozenset[int] = frozenset(range(7))
    opens: str = "00:00"
    closes: str = "24:00"

    def contains(self, moment: float) -> bool:
        """Whether ``moment`` (Unix seconds) is inside the hours."""
        zone = ZoneInfo(self.timezone)
        local = datetime.fromtimestamp(moment, zone)
        if local.weekday() not in self.weekdays:
            return False
        return _at(local.date(), self.opens, zone) <= local < _at(local.date(), self.closes, zone)

    def next_allowed(self, moment: float) -> float:
        """``moment`` if it is inside the hours, else the next opening (Unix seconds)."""
        zone = ZoneInfo(self.timezone)
        local = datetime.fromtimestamp(moment, zone)
        for day in range(8):
            date = (local + timedelta(days=day)).date()
            if date.weekday() not in self.weekdays:
                continue
            opens = _at(date, self.opens, zone)
            closes = _at(date, self.closes, zone)
            if day == 0 and opens <= local < closes:
                return moment  # exactly: a round trip through datetime may add a microsecond
            if opens < closes and (day > 0 or local < opens):
                return opens.timestamp()
        return moment


def _at(date: object, clock: str, zone: ZoneInfo) -> datetime:
    hours, minutes = (int(part) for part in clock.split(":"))
    base = datetime.combine(date, datetime.min.time(), zone)  # type: ignore[arg-type]
    return base + timedelta(hours=hours, minutes=minutes)


@dataclass(frozen=True)
class DispatchSettings:
    modes: Mapping[str, str] = field(default_factory=dict)  # queue -> agent_first|customer_first
    max_attempts: int = 3
    backoff_seconds: tuple[float, ...] = (120.0, 600.0, 1800.0)  # before attempt 2, 3, ...
    lease_seconds: float = 60.0  # a dispatcher that stops renewing loses its requests then
    # Calls placed again after one whose outcome was lost with its dispatcher (it may
    # have reached the customer and been cut off): per booking, within max_attempts.
    redial_after_unknown: int = 1
    max_dialling: int = 20  # callbacks this dispatcher dials at once
    hours: CallingHours = CallingHours()
    poll_seconds: float = 1.0
    value: ValueRule = ValueRule()  # most valuable first: who stands earlier in line

    def mode(self, queue: str) -> str:
        return self.modes.get(queue, "agent_first")

    def backoff(self, attempts: int) -> float:
        if not self.backoff_seconds:
            return 0.0
        return self.backoff_seconds[min(attempts, len(self.backoff_seconds)) - 1]
