"""What a help desk connector does, whichever help desk it speaks to.

The outbox drainer (:mod:`ivr.tickets.connectors.drainer`) hands a connector one
:class:`Change` at a time, in write order; the connector makes the help desk's
ticket agree with it and says which external ticket that is. The read-back
(:mod:`ivr.tickets.connectors.sync`) asks it for tickets changed since a
watermark. A connector is idempotent: the same change delivered twice (a retry,
a crash before the outbox row was marked) leaves the help desk as once.

HelpdeskError
├── HelpdeskUnavailable  not now: down, timed out, 5xx, 408/429 (retried with backoff)
└── HelpdeskRefused      not like this: a 4xx for this change (given up after a few tries)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ivr.exceptions import IvrError
from ivr.tickets.model import Ticket, WorkStatus


class HelpdeskError(IvrError):
    """The help desk did not take a change or answer a question."""


class HelpdeskUnavailable(HelpdeskError):
    """It may later: retry the same change."""


class HelpdeskRefused(HelpdeskError):
    """It refused this change itself (bad queue, no right, unknown field)."""


@dataclass(frozen=True)
class ExternalRef:
    """The help desk's ticket: its own id (shown to people) and a link to it."""

    id: str
    url: str | None = None


@dataclass(frozen=True)
class Change:
    """One outbox message for the help desk."""

    delivery_id: int  # the outbox row: unique, increasing
    event: str  # ivr.tickets.outbox: CREATED, CLOSED, CALLBACK_ATTEMPT, RESOLVED
    ticket: Ticket  # our ticket as it is now, with its events
    attempt: dict[str, Any] | None = None  # the callback attempt's summary (CALLBACK_ATTEMPT)


@dataclass(frozen=True)
class ExternalState:
    """Where a help desk ticket stands, in our words."""

    ref: ExternalRef
    ticket_id: int | None  # ours, when the help desk ticket carries it
    work_status: WorkStatus
    status: str  # the help desk's own word (``resolved``, ``stalled``...)
    owner: str | None  # None: nobody
    updated_at: str  # the help desk's own stamp, for the watermark (ISO 8601, UTC)


class HelpdeskConnector(Protocol):
    """A help desk behind one interface (RT today; see README for Jira, ServiceNow)."""

    name: str  # for logs and ``ivr helpdesk check``

    async def deliver(self, change: Change, known: ExternalRef | None) -> ExternalRef:
        """Make the help desk agree with ``change``; return its ticket.

        ``known`` is the external ticket stored on ours, None when none is stored
        yet: the connector then looks for one made by an earlier, unfinished
        delivery before it creates one.

        Raises:
            HelpdeskUnavailable: try the same change again later.
            HelpdeskRefused: the help desk refused this change.
        """

    async def changed_since(self, watermark: str | None) -> list[ExternalState]:
        """Our tickets in the help desk changed at or after ``watermark``, oldest first.

        Raises:
            HelpdeskUnavailable: the help desk did not answer.
        """

    async def state(self, external_id: str) -> ExternalState | None:
        """One ticket's state now; None when there is no such ticket."""

    async def check(self) -> list[str]:
        """Problems with the connection and mapping (empty: all good), for
        ``ivr helpdesk check``."""

    async def close(self) -> None: ...
