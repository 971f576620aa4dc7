"""The ticket store interface; SQLite now, PostgreSQL behind the same methods later."""

from __future__ import annotations

from typing import Protocol

from ivr.exceptions import TicketStoreError
from ivr.tickets.model import Ticket, TicketEnd, TicketQuery, TicketStart


class TicketStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def create(self, start: TicketStart) -> int:
        """A new ticket for a call that just arrived; returns its id."""

    async def finish(self, ticket_id: int, end: TicketEnd) -> None: ...

    async def get(self, ticket_id: int) -> Ticket | None: ...

    async def search(self, query: TicketQuery) -> list[Ticket]:
        """Newest first."""


def open_store(database_url: str) -> TicketStore:
    """The store for ``database_url`` (``sqlite:///path``).

    Raises:
        TicketStoreError: an unsupported URL.
    """
    if database_url.startswith("sqlite:///"):
        from ivr.tickets.sqlite_store import SqliteTicketStore

        return SqliteTicketStore(database_url.removeprefix("sqlite:///"))
    scheme = database_url.split(":", 1)[0]
    raise TicketStoreError(
        f"DATABASE_URL scheme {scheme!r} is not supported yet; use sqlite:///PATH"
    )
