"""Personal data kept for its retention, then forgotten; one caller's erased on request."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from redis.exceptions import RedisError

from callback.requests import CallbackRequests
from ivr.exceptions import IvrError
from ivr.privacy.call_files import CallFileRemover
from ivr.privacy.settings import PrivacyConfig
from ivr.tickets.forgetting import Forget
from ivr.tickets.store import TicketStore

log = logging.getLogger(__name__)

DAY = 86400.0
HAND_OVER_CHECK_SECONDS = 60.0  # how soon files another node asked to delete go


@dataclass(frozen=True)
class Erasure:
    tickets: int
    files_deleted: int  # on this node
    files_on_other_nodes: int  # calls whose files their own node deletes
    callbacks_deleted: int
    desk_records_deleted: int = 0  # what agents' desks still showed of the caller's calls


class DeskRecords(Protocol):
    """What agents' desks keep of live and recent calls (ivr.agents.desk_calls)."""

    async def forget_number(self, number: str) -> int: ...


@dataclass(frozen=True)
class Expiry:
    recordings: int  # tickets whose recording was dropped
    transcripts: int
    day_folders: int
    callbacks: int


class PersonalData:
    def __init__(
        self,
        settings: PrivacyConfig,
        tickets: TicketStore,
        files: CallFileRemover,
        callbacks: CallbackRequests | None,
        desks: DeskRecords | None = None,
    ) -> None:
        self._desks = desks
        self._settings = settings
        self._tickets = tickets
        self._files = files
        self._callbacks = callbacks

    async def erase_caller(self, number: str) -> Erasure:
        """Forget everything personal of the caller ``number``: tickets, files, callbacks,
        what agents' desks show of their calls.

        Raises:
            TicketStoreError, RedisError: part of it is not done; asking again finishes it.
        """
        tickets = deleted = handed = 0
        more = True
        while more:
            forgotten = await self._tickets.forget(Forget(caller_number=number))
            here, there = await self._files.delete(forgotten.files)
            tickets, deleted, handed = tickets + forgotten.tickets, deleted + here, handed + there
            more = forgotten.more
        callbacks = 0
        if self._callbacks is not None:
            callbacks = await self._callbacks.forget_number(number, "caller's data erased")
        desk_records = await self._desks.forget_number(number) if self._desks else 0
        return Erasure(tickets, deleted, handed, callbacks, desk_records)

    async def expire(self, now: float) -> Expiry:
        """One retention sweep: what is older than its retention goes."""
        settings = self._settings
        recordings = transcripts = folders = callbacks = 0
        if settings.recordings_retention_days > 0:
            cutoff = now - settings.recordings_retention_days * DAY
            recordings = await self._forget_all(Forget(recordings_before=cutoff))
            folders = await self._files.delete_days_before(cutoff)
        if settings.transcripts_retention_days > 0:
            cutoff = now - settings.transcripts_retention_days * DAY
            transcripts = await self._forget_all(Forget(transcripts_before=cutoff))
            if self._callbacks is not None:
                while (done := await self._callbacks.forget_closed(cutoff)) > 0:
                    callbacks += done
        return Expiry(recordings, transcripts, folders, callbacks)

    async def _forget_all(self, spec: Forget) -> int:
        total, more = 0, True
        while more:
            forgotten = await self._tickets.forget(spec)
            await self._files.delete(forgotten.files)
            total, more = total + forgotten.tickets, forgotten.more
        return total

    async def run(self) -> None:
        """Sweep now and every ``sweep_interval_seconds``; hand-overs every minute."""
        next_sweep = 0.0
        while True:
            try:
                await self._files.delete_handed_to_me()
                if time.monotonic() >= next_sweep:
                    expiry = await self.expire(time.time())
                    next_sweep = time.monotonic() + self._settings.sweep_interval_seconds
                    if any(vars(expiry).values()):
                        log.info("retention sweep: %s", expiry)
            except (IvrError, RedisError, OSError) as exc:
                log.warning("retention sweep not finished, tried again later: %s", exc)
            await asyncio.sleep(min(HAND_OVER_CHECK_SECONDS, self._settings.sweep_interval_seconds))
