"""Messages waiting in the ticket database (the outbox) until delivered.

A message is written in the same transaction as the ticket change it reports,
so a crash or a receiver that is down loses nothing; the drainer
(:mod:`ivr.tickets.webhook`) sends them in write order and deletes each once
the receiver accepted it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ivr.tickets.json_view import ticket_json
from ivr.tickets.model import Ticket

CREATED = "ticket.created"  # a call arrived
CLOSED = "ticket.closed"  # the call ended; the ticket has its outcome
RESOLVED = "ticket.resolved"  # an agent set the work status to resolved
# A callback attempt ended (its ``callback_attempt`` event); for the help desk only:
# the webhook's receivers were promised the three above.
CALLBACK_ATTEMPT = "ticket.callback_attempt"

# Who drains a message: each consumer has its own copy, in its own order.
WEBHOOK = "webhook"
HELPDESK = "helpdesk"  # ivr.tickets.connectors
ATTEMPT_EVENT_KIND = "callback_attempt"  # the ticket event that ends a callback attempt


def consumers(webhook: bool, helpdesk: bool) -> tuple[str, ...]:
    return tuple(name for name, on in ((WEBHOOK, webhook), (HELPDESK, helpdesk)) if on)


def consumers_of(
    event: str, configured: tuple[str, ...], from_helpdesk: bool = False
) -> tuple[str, ...]:
    """Who gets a copy of ``event``'s message (a change the help desk made is not
    sent back to it)."""
    if event == CALLBACK_ATTEMPT:
        return tuple(c for c in configured if c == HELPDESK)
    if from_helpdesk:
        return tuple(c for c in configured if c != HELPDESK)
    return configured


@dataclass(frozen=True)
class OutboxMessage:
    id: int  # also the delivery id receivers can use to drop a repeat
    ticket_id: int
    event: str
    payload: str  # JSON text, written when the change happened
    attempts: int  # failed deliveries so far


def payload(event: str, ticket: Ticket, extra: dict[str, Any] | None = None) -> str:
    return json.dumps({"event": event, "ticket": ticket_json(ticket, False), **(extra or {})})
