"""Attempts settled in Redis and not yet on their ticket (the journal's outbox).

Settling an attempt (its outcome in Redis) and writing it on the caller's ticket are
two stores; a dispatcher killed between the two would leave the ticket without the
outcome. So the script that settles an attempt also leaves its record here, and the
dispatcher that settled it removes it once the ticket has it. A record older than a
grace period (its dispatcher died or stalled, or the ticket store was away) is written
by whichever dispatcher holds the short journal lock. The ticket journal skips a
record the ticket already has, so a late first writer and the drain never write it
twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from callback import keys

log = logging.getLogger(__name__)

R = TypeVar("R")
LOCK_SECONDS = 30.0
BATCH = 50
GIVE_UP_SECONDS = 86_400.0  # a record the ticket store refused for a day is dropped, logged


class UnjournaledAttempts:
    """The unjournaled hash: ``<request id>:<attempt>`` -> the attempt's record."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._hash = keys.callbacks_unjournaled(prefix)
        self._lock = keys.callbacks_journal_lock(prefix)

    async def written(self, request_id: str, attempt: object) -> None:
        """The attempt is on its ticket. If Redis does not answer, the record stays and
        is written again later, where the journal finds it already there."""
        try:
            await self._client.hdel(self._hash, f"{request_id}:{attempt}")
        except (RedisError, OSError) as exc:
            log.warning("callback %s attempt %s: outbox not cleared: %s", request_id, attempt, exc)

    async def pending(self) -> dict[str, dict[str, Any]]:
        raw = await self._client.hgetall(self._hash)
        return {str(field): json.loads(value) for field, value in raw.items()}

    async def drain(
        self,
        owner: str,
        grace_seconds: float,
        get_request: Callable[[str], Awaitable[R | None]],
        write: Callable[[R, dict[str, Any]], Awaitable[bool]],
    ) -> int:
        """Write records settled more than ``grace_seconds`` ago on their tickets, if
        this dispatcher gets the lock; returns how many were written."""
        now = time.time()
        overdue = [
            (field, record)
            for field, record in (await self.pending()).items()
            if float(record.get("at") or 0) < now - grace_seconds
        ][:BATCH]
        if not overdue:
            return 0
        if not await self._client.set(self._lock, owner, nx=True, px=int(LOCK_SECONDS * 1000)):
            return 0  # another dispatcher is writing them
        written = 0
        try:
            for field, record in overdue:
                request_id = field.rpartition(":")[0]
                request = await get_request(request_id)
                if request is None:
                    log.warning("callback %s: attempt not journaled, request gone", request_id)
                elif await _written(write, request, {**record, "journaled_by": owner}):
                    written += 1
                elif float(record.get("at") or 0) > now - GIVE_UP_SECONDS:
                    continue  # the ticket store is away: tried again next round
                else:
                    log.error("callback %s: attempt never journaled: %s", request_id, record)
                await self._client.hdel(self._hash, field)
        finally:
            if await self._client.get(self._lock) == owner:
                await self._client.delete(self._lock)
        return written


async def _written(
    write: Callable[[R, dict[str, Any]], Awaitable[bool]], request: R, record: dict[str, Any]
) -> bool:
    try:
        return await write(request, record)
    except Exception:  # a ticket store fault must not stop the dispatcher; tried again
        log.exception("an unjournaled attempt could not be written")
        return False
