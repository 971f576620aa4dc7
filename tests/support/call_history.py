"""A helpdesk's call history with a daily peak, seeded into a real ticket store or
written as a simulator's day file."""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ivr.tickets.model import Disposition, Handling, TicketEnd, TicketStart
from ivr.tickets.store import TicketStore

ZONE = ZoneInfo("Europe/Berlin")
QUEUE = "helpdesk"
OPEN_HOURS = range(8, 17)  # local: calls from 08:00 to 17:00
PEAK = (10, 11)  # local: the morning peak, 10:00 to 11:00
BASE_CALLS = 2  # an interval's calls off the peak (plus or minus one)
PEAK_CALLS = 10  # an interval's calls at the peak (plus or minus two)
TALK_SECONDS = (120, 240)  # each answered call's talk time, uniformly


def interval_calls(hour: int, rng: random.Random, scale: float = 1.0) -> int:
    if PEAK[0] <= hour < PEAK[1]:
        return round(scale * (PEAK_CALLS + rng.randint(-2, 2)))
    return round(scale * (BASE_CALLS + rng.randint(-1, 1)))


def day_arrivals(
    day: datetime, rng: random.Random, until: datetime | None = None, scale: float = 1.0
) -> list[float]:
    """Arrival times (Unix seconds) over the open hours of ``day`` (a local midnight),
    spread evenly inside each 15-minute interval; none at or after ``until``."""
    arrivals = []
    for hour in OPEN_HOURS:
        for quarter in range(4):
            start = day.replace(hour=hour, minute=15 * quarter)
            count = interval_calls(hour, rng, scale)
            for n in range(count):
                moment = start + timedelta(seconds=(n + 0.5) * 900 / count)
                if until is None or moment < until:
                    arrivals.append(moment.timestamp())
    return arrivals


async def seed_calls(store: TicketStore, arrivals: list[float], rng: random.Random) -> None:
    """One ticket a call: it joined the queue, was answered after 20 s and talked."""
    for n, at in enumerate(arrivals):
        ticket = await store.create(
            TicketStart(f"hist-{at}-{n}", "w1", f"10{n:05d}", "4357", "default", "v1", at)
        )
        talk = float(rng.randint(*TALK_SECONDS))
        await store.finish(
            ticket,
            TicketEnd(
                answered_at=at,
                ended_at=at + 20 + talk,
                disposition=Disposition.COMPLETED,
                end_reason="hangup",
                nodes=("welcome",),
                keys="",
                recording_path=None,
                events=(),
                handling=Handling(queue=QUEUE, wait_seconds=20.0, agent_id="a0", talk_seconds=talk),
            ),
        )


def write_day(path: Path, day: datetime, rng: random.Random, scale: float = 1.0) -> Path:
    """A simulator's day file (``arrived_at`` in local ISO 8601, ``handle_seconds``)."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["arrived_at", "handle_seconds"])
        for at in day_arrivals(day, rng, scale=scale):
            local = datetime.fromtimestamp(at, ZONE).replace(tzinfo=None)
            writer.writerow([local.isoformat(timespec="seconds"), rng.randint(*TALK_SECONDS)])
    return path
