"""Where the service records a callback's customer leg, and which numbers are on a call.

A leg is recorded beside the recording of the call that booked it (that call's
day folder, named after its ticket), so a ticket's files are found, served and
forgotten together. ``LiveCallLines`` is the dispatcher's ``Lines``: the live
calls every worker keeps in Redis (``ivr.state.live_calls``).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from pathlib import Path

import redis.asyncio as aioredis

from callback.requests import CallbackRequest
from ivr.exceptions import IvrError
from ivr.media.recording import callback_recording_path
from ivr.state import keys
from ivr.tickets.store import TicketStore


class LegRecordings:
    def __init__(self, root: Path, tickets: TicketStore) -> None:
        self._root = root
        self._tickets = tickets

    async def path(self, request: CallbackRequest) -> Path:
        """The file for the request's next attempt."""
        return callback_recording_path(
            self._root,
            request.ticket_id,
            await self._booked_at(request),
            request.id,
            request.attempts + 1,
        )

    async def _booked_at(self, request: CallbackRequest) -> float:
        if request.ticket_id > 0:
            try:
                ticket = await self._tickets.get(request.ticket_id)
            except IvrError:
                ticket = None  # the database is away: the booking time is the same day
            if ticket is not None:
                return ticket.start.started_at
        return request.created_at or time.time()


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


class LiveCallLines:
    """Numbers with a live call: a caller on the line is not dialled back meanwhile."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    async def in_call(self, numbers: Collection[str]) -> set[str]:
        """Those of ``numbers`` (compared by their digits) that are calling the service
        now, on any worker. Raises RedisError or OSError."""
        wanted: dict[str, list[str]] = {}
        for number in numbers:
            if _digits(number):
                wanted.setdefault(_digits(number), []).append(number)
        if not wanted:
            return set()
        call_ids = await self._client.zrange(keys.live_calls_index(self._prefix), 0, -1)
        if not call_ids:
            return set()
        async with self._client.pipeline(transaction=False) as pipe:
            for call_id in call_ids:
                pipe.hget(keys.live_call(self._prefix, str(call_id)), "caller_number")
            callers = await pipe.execute()
        busy: set[str] = set()
        for caller in callers:
            busy.update(wanted.get(_digits(str(caller or "")), ()))
        return busy
