"""The ticket store interface, on SQLite (default) or PostgreSQL behind the same methods."""

from __future__ import annotations

from typing import Protocol

from ivr.exceptions import TicketStoreError
from ivr.tickets.audit import AuditEntry, AuditQuery
from ivr.tickets.forgetting import Forget, Forgotten
from ivr.tickets.model import (
    Ticket,
    TicketEnd,
    TicketEvent,
    TicketQuery,
    TicketStart,
    TicketUpdate,
)
from ivr.tickets.outbox import OutboxMessage
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

    async def stats(self, since: float, until: float) -> TicketStats:
        """Figures over the tickets started in ``[since, until)`` (Unix seconds)."""

    async def outbox_pending(self, limit: int) -> list[OutboxMessage]:
        """Undelivered webhook messages, oldest first (never those given up on)."""

    async def outbox_delivered(self, message_id: int) -> None: ...

    async def outbox_failed(self, message_id: int, error: str, give_up: bool) -> None:
        """Count a failed delivery; ``give_up`` keeps the message but stops sending it."""

    async def forget(self, spec: Forget) -> Forgotten:
        """Forget one batch of personal data (see :mod:`ivr.tickets.forgetting`)."""

    async def add_audit(self, entry: AuditEntry) -> None:
        """Add one row to the audit log (see :mod:`ivr.tickets.audit`)."""

    async def audit_entries(self, query: AuditQuery) -> list[AuditEntry]:
        """Audit rows matching ``query``, newest first."""


def open_store(database_url: str, webhook_outbox: bool = False) -> TicketStore:
    """The store for ``database_url``: ``sqlite:///path`` or ``postgresql://...``.

    With ``webhook_outbox`` every create, close and resolve also writes a
    webhook message in the same transaction.

    Raises:
        TicketStoreError: an unsupported URL.
    """
    if database_url.startswith("sqlite:///"):
        from ivr.tickets.sqlite_store import SqliteTicketStore

        return SqliteTicketStore(database_url.removeprefix("sqlite:///"), webhook_outbox)
    if database_url.startswith(("postgresql://", "postgres://")):
        from ivr.tickets.postgres_store import PostgresTicketStore

        return PostgresTicketStore(database_url, webhook_outbox)
    scheme = database_url.split(":", 1)[0]
    raise TicketStoreError(
        f"DATABASE_URL scheme {scheme!r} is not supported; "
        "use sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
    )
