"""Delivers the webhook outbox: JSON POSTs in write order, retried with backoff.

A receiver that is down or answers 5xx, 408 or 429 holds the queue: the oldest
message is retried (backoff doubling up to ``max_backoff_seconds``) until it
is accepted, so every ticket's messages arrive in order and none is lost. A
receiver that refuses a message outright (another 4xx) gets
:data:`MAX_REFUSALS` tries; then the message is kept in the outbox, marked
given up, and the queue moves on. A message whose delivery was cut by a
shutdown is sent again on the next start: receivers drop repeats by the
``X-Ivr-Delivery`` id (also ``delivery_id`` in the body).
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import urlsplit

import aiohttp

from ivr.exceptions import IvrError
from ivr.tickets.outbox import OutboxMessage
from ivr.tickets.store import TicketStore

log = logging.getLogger(__name__)

BATCH = 50
POLL_INTERVAL_SECONDS = 0.5  # how soon a new ticket's message leaves when the queue is idle
FIRST_BACKOFF_SECONDS = 0.5
MAX_REFUSALS = 5


def redacted(url: str) -> str:
    """The URL without credentials or query (tokens often ride there), for logs."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


class _Retry(Exception):
    """The receiver may take the message later."""


class _Refused(Exception):
    """The receiver refused the message itself."""


class WebhookDrainer:
    def __init__(
        self,
        store: TicketStore,
        url: str,
        timeout_seconds: float = 5.0,
        max_backoff_seconds: float = 60.0,
    ) -> None:
        self._store = store
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._max_backoff = max_backoff_seconds
        self._failures = 0  # consecutive, for the backoff

    async def run(self) -> None:
        """Deliver until cancelled; never raises otherwise."""
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            while True:
                try:
                    pending = await self._store.outbox_pending(BATCH)
                except IvrError as exc:
                    log.warning("webhook outbox unreadable: %s", exc)
                    pending = []
                    self._failures += 1
                if not pending:
                    await asyncio.sleep(
                        self._backoff() if self._failures else POLL_INTERVAL_SECONDS
                    )
                    continue
                for message in pending:
                    if not await self._send_one(session, message):
                        await asyncio.sleep(self._backoff())
                        break

    def _backoff(self) -> float:
        return float(min(self._max_backoff, FIRST_BACKOFF_SECONDS * 2 ** (self._failures - 1)))

    async def _send_one(self, session: aiohttp.ClientSession, message: OutboxMessage) -> bool:
        """True when the queue may move on past ``message``."""
        try:
            await self._post(session, message)
        except _Retry as exc:
            self._failures += 1
            await self._record(message, str(exc), give_up=False)
            if self._failures == 1 or self._failures % 10 == 0:
                log.warning(
                    "webhook %s: delivery %d (%s) failed %d times in a row: %s",
                    redacted(self._url),
                    message.id,
                    message.event,
                    self._failures,
                    exc,
                )
            return False
        except _Refused as exc:
            give_up = message.attempts + 1 >= MAX_REFUSALS
            await self._record(message, str(exc), give_up)
            if give_up:
                log.error(
                    "webhook %s refused delivery %d (%s, ticket %d) %d times; kept in the "
                    "outbox, not sent again: %s",
                    redacted(self._url),
                    message.id,
                    message.event,
                    message.ticket_id,
                    MAX_REFUSALS,
                    exc,
                )
                return True
            self._failures += 1
            return False
        self._failures = 0
        try:
            await self._store.outbox_delivered(message.id)
        except IvrError as exc:
            log.warning("webhook delivery %d sent but not marked: %s", message.id, exc)
            return False
        return True

    async def _post(self, session: aiohttp.ClientSession, message: OutboxMessage) -> None:
        body = {"delivery_id": message.id, **json.loads(message.payload)}
        headers = {"X-Ivr-Delivery": str(message.id), "X-Ivr-Event": message.event}
        try:
            async with session.post(self._url, json=body, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from exc
        if 200 <= status < 300:
            return
        if status >= 500 or status in (408, 429):
            raise _Retry(f"HTTP {status}")
        raise _Refused(f"HTTP {status}")

    async def _record(self, message: OutboxMessage, error: str, give_up: bool) -> None:
        try:
            await self._store.outbox_failed(message.id, error[:500], give_up)
        except IvrError as exc:
            log.warning("webhook delivery %d failure not recorded: %s", message.id, exc)
