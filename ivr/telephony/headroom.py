"""Whether this worker can take one more call, by what it measures.

A worker is full when it carries ``sip.max_calls`` calls, when it has taken
``sip.max_new_calls_per_second`` calls in the last second (a burst of new calls costs
a worker more than the same calls once they run: their answer, ticket and first
prompt, all at once), or when its event loop runs late: the loop that reads every
call's keys and plays every prompt. A loop more than ``sip.max_loop_lag_ms`` late
now, or lately (a stall holds the worker full for twice its length, up to
``HOLD_SECONDS``; lateness that goes on keeps it full), means the calls it carries
already wait for it, and one more call would make every one of them worse. An
INVITE the edge relayed more than a few seconds ago is refused too: the edge may
have given it to another worker meanwhile. A full worker refuses new INVITEs before
answering them (the edge then tries another worker, or answers 503 with
Retry-After), so past its capacity nobody is answered and then dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ivr.edge.render import EDGE_TIME_HEADER, STALE_INVITE_SECONDS

TICK_SECONDS = 0.05
HOLD_SECONDS = 2.0  # a late loop keeps the worker full up to this long after it catches up


@dataclass(frozen=True)
class HeadroomView:
    """What /api/health and the metrics show."""

    calls: int
    max_calls: int
    loop_lag_ms: float  # the largest in the last HOLD_SECONDS
    max_loop_lag_ms: int
    max_new_calls_per_second: int
    refused: int  # INVITEs refused as full since start
    full: str | None  # why, when full


class Headroom:
    def __init__(self, max_calls: int, max_loop_lag_ms: int, max_new_per_second: int) -> None:
        self._max_calls = max_calls
        self._max_lag = max_loop_lag_ms / 1000
        self._rate = max_new_per_second
        self._tokens = float(max_new_per_second)  # a bucket a second deep
        self._refilled = time.monotonic()
        self._last_tick = time.monotonic()
        self._late_until = 0.0
        self._worst_lag = 0.0
        self._worst_at = 0.0
        self.calls = 0
        self.refused = 0

    async def run(self) -> None:
        """Measure how late the loop wakes up, until cancelled."""
        while True:
            asked = time.monotonic()
            await asyncio.sleep(TICK_SECONDS)
            self._tick(time.monotonic(), asked)

    def _tick(self, now: float, asked: float) -> None:
        lag = max(0.0, now - asked - TICK_SECONDS)
        self._last_tick = now
        if lag >= self._worst_lag or now - self._worst_at > HOLD_SECONDS:
            self._worst_lag, self._worst_at = lag, now
        if lag > self._max_lag:
            # One stall (a plan reload) holds briefly; lateness that goes on, for good.
            self._late_until = max(self._late_until, now + min(HOLD_SECONDS, 2 * lag))

    def refusal(self) -> str | None:
        """Why a new call is refused now; None when it is taken."""
        now = time.monotonic()
        if self.calls >= self._max_calls:
            return f"{self.calls} calls, sip.max_calls is {self._max_calls}"
        overdue = now - self._last_tick - TICK_SECONDS
        if overdue > self._max_lag:
            return f"event loop {overdue * 1000:.0f} ms late"
        if now < self._late_until:
            late = self._worst_lag * 1000
            return f"event loop was {late:.0f} ms late in the last {HOLD_SECONDS:.0f} s"
        return None

    def refuse(self, headers: Mapping[str, str]) -> str | None:
        """Why this INVITE is refused (counted), or None: the worker is full, or the
        INVITE waited too long for it (``EDGE_TIME_HEADER``, set by the edge)."""
        reason = self.refusal() or stale_invite(headers) or self._take_new_call()
        if reason is not None:
            self.refused += 1
        return reason

    def _take_new_call(self) -> str | None:
        now = time.monotonic()
        self._tokens = min(self._rate, self._tokens + (now - self._refilled) * self._rate)
        self._refilled = now
        if self._tokens < 1:
            return f"{self._rate} new calls in the last second (sip.max_new_calls_per_second)"
        self._tokens -= 1
        return None

    def view(self) -> HeadroomView:
        now = time.monotonic()
        worst = self._worst_lag if now - self._worst_at <= HOLD_SECONDS else 0.0
        worst = max(worst, now - self._last_tick - TICK_SECONDS, 0.0)
        return HeadroomView(
            calls=self.calls,
            max_calls=self._max_calls,
            loop_lag_ms=round(worst * 1000, 1),
            max_loop_lag_ms=round(self._max_lag * 1000),
            max_new_calls_per_second=self._rate,
            refused=self.refused,
            full=self.refusal(),
        )


def stale_invite(headers: Mapping[str, str]) -> str | None:
    """Why an INVITE the edge relayed is too old to answer (the edge re-routes or
    refuses one left unanswered for a few seconds); None when fresh or not relayed."""
    stamp = headers.get(EDGE_TIME_HEADER, "").split(",")[-1].strip()
    try:
        waited = time.time() - float(stamp)
    except ValueError:
        return None  # not through the edge
    if waited > STALE_INVITE_SECONDS:
        return f"the INVITE waited {waited:.1f} s since the edge relayed it"
    return None
