"""A ticket as JSON: one shape for the HTTP API, the CSV export and the webhook."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from ivr.tickets.model import Ticket


def iso(at: float | None) -> str | None:
    """ISO 8601 UTC with milliseconds (``2026-11-23T19:05:30.123Z``), None stays None."""
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ticket_json(ticket: Ticket, with_events: bool) -> dict[str, Any]:
    """The ticket's fields; ``with_events`` adds the event timeline and the notes."""
    start = ticket.start
    body: dict[str, Any] = {
        "id": ticket.id,
        "call_id": start.call_id,
        "worker_id": start.worker_id,
        "caller_number": start.caller_number,
        "called_number": start.called_number,
        "plan": {"name": start.plan_name, "version": start.plan_version},
        "started_at": iso(start.started_at),
        "answered_at": iso(ticket.answered_at),
        "ended_at": iso(ticket.ended_at),
        "disposition": ticket.disposition.value,
        "end_reason": ticket.end_reason,
        "nodes": list(ticket.nodes),
        "keys": ticket.keys,
        "recording_path": ticket.recording_path,
        "variables": ticket.variables,
        "satisfaction": ticket.satisfaction,
        **asdict(ticket.handling),
        "work_status": ticket.work_status.value,
        "assignee": ticket.assignee,
    }
    if with_events:
        body["events"] = [{"at": iso(e.at), "kind": e.kind, **e.detail} for e in ticket.events]
        body["notes"] = [
            {"at": iso(n.at), "author": n.author, "text": n.text} for n in ticket.notes
        ]
    return body
