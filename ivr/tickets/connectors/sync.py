"""Changes made in the help desk come back to our tickets, by polling with a watermark.

Every ``poll_interval_seconds`` the connector lists our tickets changed in the
help desk since the watermark (its own "last updated" stamp); each one's status
and owner are set on our ticket when they differ (``work_status``, ``assignee``,
and a note saying what the help desk changed), so the dashboard and the agent
desk stay true. The watermark lives in memory: at start it is ``resync_seconds``
back, and a change read twice is applied once (nothing differs the second time).
A resolve applied here writes the usual ``ticket.resolved`` message for the
webhook, none for the help desk (an echo arriving after a newer change made
there, a reopen, would undo it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Protocol

from ivr.exceptions import IvrError
from ivr.tickets.connectors.base import ExternalState, HelpdeskConnector
from ivr.tickets.model import Ticket, TicketNote, TicketUpdate

log = logging.getLogger(__name__)

AUTHOR = "helpdesk"


class TicketUpdater(Protocol):
    async def get(self, ticket_id: int) -> Ticket | None: ...

    async def update(self, ticket_id: int, update: TicketUpdate) -> Ticket | None: ...


def stamp(at: float) -> str:
    """Unix seconds as the help desk's ``LastUpdated`` (ISO 8601, UTC, whole seconds)."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class HelpdeskSync:
    def __init__(
        self,
        store: TicketUpdater,
        connector: HelpdeskConnector,
        poll_interval_seconds: float,
        resync_seconds: float,
    ) -> None:
        self._store = store
        self._connector = connector
        self._interval = poll_interval_seconds
        self._watermark = stamp(time.time() - resync_seconds)

    async def run(self) -> None:
        """Poll until cancelled; never raises otherwise."""
        while True:
            try:
                await self.poll_once()
            except IvrError as exc:
                log.warning("%s: changes not read back: %s", self._connector.name, exc)
            await asyncio.sleep(self._interval)

    async def poll_once(self) -> int:
        """Apply what changed since the watermark; how many of our tickets changed.

        Raises:
            IvrError: the help desk or the ticket database did not answer
                (the watermark stays, so nothing is skipped).
        """
        changed = await self._connector.changed_since(self._watermark)
        applied = 0
        for state in changed:
            if state.ticket_id is not None and await self.apply(state.ticket_id, state):
                applied += 1
        if changed:
            # Equal stamps are read again next time (a second has room for more
            # changes); applying one twice changes nothing.
            self._watermark = max(self._watermark, changed[-1].updated_at)
        return applied

    async def apply(self, ticket_id: int, state: ExternalState) -> bool:
        """Set ``state`` on our ticket when it differs; whether it did."""
        ticket = await self._store.get(ticket_id)
        if ticket is None or (
            ticket.external_id is not None and ticket.external_id != state.ref.id
        ):
            return False
        status = state.work_status if state.work_status != ticket.work_status else None
        owner_changed = state.owner != ticket.assignee
        if status is None and not owner_changed:
            return False
        note = TicketNote(
            time.time(),
            f"{self._connector.name} #{state.ref.id}: status {state.status}, "
            f"owner {state.owner or 'nobody'}",
            AUTHOR,
        )
        update = TicketUpdate(
            work_status=status,
            assignee=state.owner if owner_changed else None,
            unassign=owner_changed and state.owner is None,
            note=note,
            from_helpdesk=True,
        )
        await self._store.update(ticket_id, update)
        log.info(
            "ticket %d: %s #%s says %s, owner %s",
            ticket_id,
            self._connector.name,
            state.ref.id,
            state.status,
            state.owner or "nobody",
        )
        return True
