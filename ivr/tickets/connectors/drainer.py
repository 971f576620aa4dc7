"""Delivers the help desk's outbox messages through a connector: in order, retried.

The same rules as the webhook (:mod:`ivr.tickets.webhook`): a help desk that is
down holds the queue and the oldest message is retried with doubling backoff,
so a ticket's changes reach it in order and none is lost; a change the help desk
refuses outright gets :data:`MAX_REFUSALS` tries, then stays in the outbox marked
given up. Exactly once from the help desk's side: the external ticket is stored
on ours before the message is marked delivered, and the connector makes every
change idempotent (:mod:`ivr.tickets.connectors.base`), so a crash between the
help desk's answer and the mark repeats the change harmlessly.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Protocol

from ivr.exceptions import IvrError, TicketStoreError
from ivr.tickets.connectors.base import (
    Change,
    ExternalRef,
    HelpdeskConnector,
    HelpdeskRefused,
    HelpdeskUnavailable,
)
from ivr.tickets.model import Ticket
from ivr.tickets.outbox import HELPDESK, OutboxMessage

log = logging.getLogger(__name__)

BATCH = 20
POLL_INTERVAL_SECONDS = 0.5
FIRST_BACKOFF_SECONDS = 0.5
MAX_REFUSALS = 5


class HelpdeskLedger(Protocol):
    """What the drainer needs of the ticket store (the store itself, not its spool)."""

    async def outbox_pending(self, limit: int, consumer: str = ...) -> list[OutboxMessage]: ...

    async def outbox_delivered(self, message_id: int) -> None: ...

    async def outbox_failed(self, message_id: int, error: str, give_up: bool) -> None: ...

    async def get(self, ticket_id: int) -> Ticket | None: ...

    async def set_external(self, ticket_id: int, external_id: str, url: str | None) -> None: ...


class HelpdeskDrainer:
    def __init__(
        self, store: HelpdeskLedger, connector: HelpdeskConnector, max_backoff_seconds: float
    ) -> None:
        self._store = store
        self._connector = connector
        self._max_backoff = max_backoff_seconds
        self._failures = 0  # consecutive, for the backoff

    async def run(self) -> None:
        """Deliver until cancelled; never raises otherwise."""
        while True:
            try:
                pending = await self._store.outbox_pending(BATCH, HELPDESK)
            except IvrError as exc:
                log.warning("help desk outbox unreadable: %s", exc)
                pending = []
                self._failures += 1
            if not pending:
                await asyncio.sleep(self._backoff() if self._failures else POLL_INTERVAL_SECONDS)
                continue
            for message in pending:
                if not await self._deliver(message):
                    await asyncio.sleep(self._backoff())
                    break

    def _backoff(self) -> float:
        return float(min(self._max_backoff, FIRST_BACKOFF_SECONDS * 2 ** (self._failures - 1)))

    async def _deliver(self, message: OutboxMessage) -> bool:
        """True when the queue may move on past ``message``."""
        try:
            ticket = await self._store.get(message.ticket_id)
        except IvrError as exc:
            self._failures += 1
            log.warning("help desk delivery %d: ticket unreadable: %s", message.id, exc)
            return False
        if ticket is not None:
            try:
                await self._send(message, ticket)
            except (HelpdeskUnavailable, TicketStoreError) as exc:
                self._failures += 1
                await self._record(message, str(exc), give_up=False)
                if self._failures == 1 or self._failures % 10 == 0:
                    log.warning(
                        "%s: delivery %d (%s, ticket %d) failed %d times in a row: %s",
                        self._connector.name,
                        message.id,
                        message.event,
                        message.ticket_id,
                        self._failures,
                        exc,
                    )
                return False
            except HelpdeskRefused as exc:
                give_up = message.attempts + 1 >= MAX_REFUSALS
                await self._record(message, str(exc), give_up)
                if not give_up:
                    self._failures += 1
                    return False
                log.error(
                    "%s refused delivery %d (%s, ticket %d) %d times; kept in the outbox, "
                    "not sent again: %s",
                    self._connector.name,
                    message.id,
                    message.event,
                    message.ticket_id,
                    MAX_REFUSALS,
                    exc,
                )
                return True
        # A ticket gone (erased before delivery) has nothing left to tell.
        self._failures = 0
        try:
            await self._store.outbox_delivered(message.id)
        except IvrError as exc:
            log.warning("help desk delivery %d made but not marked: %s", message.id, exc)
            return False
        return True

    async def _send(self, message: OutboxMessage, ticket: Ticket) -> None:
        known = (
            ExternalRef(ticket.external_id, ticket.external_url)
            if ticket.external_id is not None
            else None
        )
        attempt = json.loads(message.payload).get("attempt")
        change = Change(message.id, message.event, ticket, attempt)
        ref = await self._connector.deliver(change, known)
        if known is None or known.id != ref.id:
            # Before the mark: a retry after a crash finds it here (or by searching).
            await self._store.set_external(ticket.id, ref.id, ref.url)

    async def _record(self, message: OutboxMessage, error: str, give_up: bool) -> None:
        try:
            await self._store.outbox_failed(message.id, error[:500], give_up)
        except IvrError as exc:
            log.warning("help desk delivery %d failure not recorded: %s", message.id, exc)
