"""Webhook messages waiting in the ticket database (the outbox) until delivered.

A message is written in the same transaction as the ticket change it reports,
so a crash or a receiver that is down loses nothing; the drainer
(:mod:`ivr.tickets.webhook`) sends them in write order and deletes each once
the receiver accepted it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ivr.tickets.json_view import ticket_json
from ivr.tickets.model import Ticket

CREATED = "ticket.created"  # a call arrived
CLOSED = "ticket.closed"  # the call ended; the ticket has its outcome
RESOLVED = "ticket.resolved"  # an agent set the work status to resolved


@dataclass(frozen=True)
class OutboxMessage:
    id: int  # also the delivery id receivers can use to drop a repeat
    ticket_id: int
    event: str
    payload: str  # JSON text, written when the change happened
    attempts: int  # failed deliveries so far


def payload(event: str, ticket: Ticket) -> str:
    return json.dumps({"event": event, "ticket": ticket_json(ticket, False)})
