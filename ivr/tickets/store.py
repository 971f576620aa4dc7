"""The ticket store interface, on SQLite (default) or PostgreSQL behind the same methods."""

from __future__ import annotations

from typing import Protocol

from ivr.exceptions import TicketStoreError
from ivr.tickets.audit import AuditEntry, AuditQuery
from ivr.tickets.forgetting import Forget, Forgotten
from ivr.tickets.history import IntervalCalls
from ivr.tickets.model import (
    Ticket,
    TicketEnd,
    TicketEvent,
    TicketQuery,
    TicketStart,
    TicketUpdate,
)
from ivr.tickets.outbox import WEBHOOK, OutboxMessage
from ivr.tickets.stats import TicketStats


class TicketStore(Protocol):
    """Every method raises :class:`TicketStoreError` when the database refuses."""

    async def open(self) -> None:
        """Connect and bring the schema up to date (migrations run once, in order)."""

    async def close(self) -> None: ...

    async def create(self, start: TicketStart) -> int:
        """A new ticket for a call that just arrived; returns its id."""

    async def finish(self, ticket_id: int, end: TicketEnd) -> None: ...

    async def append_event(self, ticket_id: int, event: TicketEvent) -> None:
        """Add an event to a ticket after its call (a callback attempt)."""

    async def get(self, ticket_id: int) -> Ticket | None:
        """The ticket with its events and notes; None when there is no such ticket."""

    async def search(self, query: TicketQuery) -> list[Ticket]:
        """Newest first, without events and notes."""

    async def count(self, query: TicketQuery) -> int:
        """How many tickets match ``query`` (its limit and offset aside)."""

    async def update(self, ticket_id: int, update: TicketUpdate) -> Ticket | None:
        """Apply an agent's change in one transaction; the ticket after it, None if unknown."""

    async def queue_history(self, since: float, until: float) -> list[IntervalCalls]:
        """Calls that joined a queue in ``[since, until)``, by queue and 15-minute slot."""

    async def stats(self, since: float, until: float) -> TicketStats:
        """Figures over the tickets started in ``[since, until)`` (Unix seconds)."""

    async def outbox_pending(self, limit: int, consumer: str = WEBHOOK) -> list[OutboxMessage]:
        """Undelivered messages of ``consumer``, oldest first (never those given up on)."""

    async def outbox_delivered(self, message_id: int) -> None: ...

    async def set_external(self, ticket_id: int, external_id: str, url: str | None) -> None:
        """Keep the help desk's ticket id and link on ours (ivr.tickets.connectors)."""

    async def outbox_failed(self, message_id: int, error: str, give_up: bool) -> None:
        """Count a failed delivery; ``give_up`` keeps the message but stops sending it."""

    async def forget(self, spec: Forget) -> Forgotten:
        """Forget one batch of personal data (see :mod:`ivr.tickets.forgetting`)."""

    async def add_audit(self, entry: AuditEntry) -> None:
        """Add one row to the audit log (see :mod:`ivr.tickets.audit`)."""

    async def audit_entries(self, query: AuditQuery) -> list[AuditEntry]:
        """Audit rows matching ``query``, newest first."""


def open_store(
    database_url: str, webhook_outbox: bool = False, helpdesk_outbox: bool = False
) -> TicketStore:
    """The store for ``database_url``: ``sqlite:///path`` or ``postgresql://...``.

    With ``webhook_outbox`` every create, close and resolve also writes a
    webhook message in the same transaction; with ``helpdesk_outbox`` a message
    for the help desk's connector too (and one per callback attempt).

    Raises:
        TicketStoreError: an unsupported URL.
    """
    if database_url.startswith("sqlite:///"):
        from ivr.tickets.sqlite_store import SqliteTicketStore

        path = database_url.removeprefix("sqlite:///")
        return SqliteTicketStore(path, webhook_outbox, helpdesk_outbox)
    if database_url.startswith(("postgresql://", "postgres://")):
        from ivr.tickets.postgres_store import PostgresTicketStore

        return PostgresTicketStore(database_url, webhook_outbox, helpdesk_outbox)
    scheme = database_url.split(":", 1)[0]
    raise TicketStoreError(
        f"DATABASE_URL scheme {scheme!r} is not supported; "
        "use sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
    )
