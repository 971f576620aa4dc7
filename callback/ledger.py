"""What one attempt writes while its call is placed: ahead of the INVITE, then as it
answers and connects, so that a successor can settle it if this dispatcher dies.

The write ahead goes to Redis (fenced by the lease: a dispatcher whose lease ran
out or was taken over is told not to dial) and to the booking's ticket. The answer
and the connection are written in the background and retried until Redis answers:
a call is never held up, nor its success lost, by a Redis stall.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, TypeVar

from redis.exceptions import RedisError

from callback.requests import CallbackRequest, CallbackRequests, Lease

log = logging.getLogger(__name__)

T = TypeVar("T")
FIRST_RETRY_SECONDS = 0.2
LAST_RETRY_SECONDS = 5.0


async def until_redis_answers(what: str, write: Callable[[], Awaitable[T]]) -> T:
    """``write()``, tried again (backing off) for as long as Redis does not answer."""
    delay = FIRST_RETRY_SECONDS
    while True:
        try:
            return await write()
        except (RedisError, OSError) as exc:
            log.warning("%s: Redis did not answer (%s); trying again in %.1f s", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_RETRY_SECONDS)


class DiallingJournal(Protocol):
    """The booking's ticket, told of each call before it is placed."""

    async def dialling(self, request: CallbackRequest, record: Mapping[str, object]) -> None: ...


class AttemptLedger:
    """The call in flight of one leased attempt."""

    def __init__(
        self,
        requests: CallbackRequests,
        lease: Lease,
        request: CallbackRequest,
        journal: DiallingJournal | None = None,
    ) -> None:
        self._requests = requests
        self._lease = lease
        self._request = request
        self._journal = journal
        self._writes: list[asyncio.Task[bool]] = []
        self.phase = ""  # dialling, answered, connected; '' while nobody was dialled
        self.call_id = ""
        self.lost = False  # the lease was found lost (taken over, cancelled)
        self._since = 0.0

    @property
    def attempt(self) -> int:
        return self._request.attempts + 1

    def _record(self) -> dict[str, object]:
        return {
            "attempt": self.attempt,
            "dispatcher": self._lease.owner,
            "number": self._request.number,
            "call_id": self.call_id,
            "since": self._since,
        }

    async def dialling(self) -> bool:
        """Write the call ahead; False (do not dial) when the lease is lost or run out,
        or Redis cannot take the write."""
        if self.lost:
            return False
        self._since = time.time()
        try:
            written = await self._requests.mark(self._lease, "dialling", self._record())
        except (RedisError, OSError) as exc:
            log.warning(
                "callback %s: not dialled, write ahead failed: %s", self._lease.request_id, exc
            )
            return False
        if not written:
            self.lost = True
            log.warning("callback %s: not dialled, its lease is lost", self._lease.request_id)
            return False
        self.phase = "dialling"
        if self._journal is not None:
            await self._journal.dialling(self._request, {**self._record(), "phase": "dialling"})
        return True

    def answered(self, call_id: str) -> None:
        self._advance("answered", call_id)

    def connected(self, call_id: str) -> None:
        """The customer is talking to the agent: from now on the booking is done, even if
        this dispatcher dies before the call ends."""
        self._advance("connected", call_id)

    def _advance(self, phase: str, call_id: str) -> None:
        self.phase, self.call_id = phase, call_id or self.call_id
        record = self._record()
        self._writes.append(
            asyncio.create_task(
                until_redis_answers(
                    f"callback {self._lease.request_id} {phase}",
                    lambda: self._requests.mark(self._lease, phase, record),
                )
            )
        )

    async def written(self) -> None:
        """Wait for the background writes; notes a lease found lost meanwhile."""
        for done in await asyncio.gather(*self._writes):
            if not done:
                self.lost = True
