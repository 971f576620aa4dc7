"""Calls per queue and 15-minute interval, the history a forecast learns from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ivr.tickets.sql import Dialect

INTERVAL_SECONDS = 900  # the stats' and the forecast's interval


@dataclass(frozen=True)
class IntervalCalls:
    """The calls that joined one queue in one interval."""

    queue: str
    slot: int  # 15-minute slot since the epoch: ``started_at // 900``
    calls: int
    answered: int  # calls that reached an agent (their talk time is known)
    talk_seconds: float  # summed over the answered calls


def history_query(dialect: Dialect, since: float, until: float) -> tuple[str, list[Any]]:
    """Tickets started in ``[since, until)`` that joined a queue, by queue and slot."""
    statement = (
        f"SELECT queue, {dialect.bucket_15min} AS slot, COUNT(*), COUNT(talk_seconds), "
        "COALESCE(SUM(talk_seconds), 0) FROM tickets "
        "WHERE started_at >= ? AND started_at < ? AND queue IS NOT NULL "
        "GROUP BY queue, slot ORDER BY queue, slot"
    )
    return statement, [since, until]


def history_rows(rows: list[tuple[Any, ...]]) -> list[IntervalCalls]:
    return [
        IntervalCalls(str(queue), int(slot), int(calls), int(answered), float(talk))
        for queue, slot, calls, answered, talk in rows
    ]
