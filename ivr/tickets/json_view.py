"""A ticket as JSON: one shape for the HTTP API, the CSV export and the webhook."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from ivr.tickets.model import Ticket, TicketEvent

CALLBACK_ATTEMPT = "callback_attempt"


def iso(at: float | None) -> str | None:
    """ISO 8601 UTC with milliseconds (``2026-11-23T19:05:30.123Z``), None stays None."""
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ticket_json(ticket: Ticket, with_events: bool) -> dict[str, Any]:
    """The ticket's fields; ``with_events`` adds the events (in time order), the same
    events as a timeline of sections (:func:`timeline`) and the notes."""
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
        "external_id": ticket.external_id,
        "external_url": ticket.external_url,
    }
    if with_events:
        events = sorted(ticket.events, key=lambda e: e.at)
        body["events"] = [_event(e) for e in events]
        body["timeline"] = timeline(ticket)
        body["notes"] = [
            {"at": iso(n.at), "author": n.author, "text": n.text} for n in ticket.notes
        ]
    return body


# Times some events carry in their detail (Unix seconds), shown like every API time.
_TIME_DETAILS = ("next_at", "place")


def _event(event: TicketEvent) -> dict[str, Any]:
    detail = dict(event.detail)
    for key in _TIME_DETAILS:
        value = detail.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            detail[key] = iso(float(value)) if value else None
    return {"at": iso(event.at), "kind": event.kind, **detail}


def _attempt_of(event: TicketEvent) -> tuple[str, int] | None:
    """(request, attempt number) of an event written by a callback attempt, else None."""
    request, attempt = event.detail.get("request"), event.detail.get("attempt")
    if isinstance(request, str) and isinstance(attempt, int) and not isinstance(attempt, bool):
        return request, attempt
    return None


def timeline(ticket: Ticket) -> list[dict[str, Any]]:
    """The ticket's events in sections, each in time order, sections by their start:
    ``call`` (the call itself), then one ``callback_attempt`` section per attempt
    (``request``, ``attempt``, its ``outcome``, the customer leg's ``recording`` and
    the API path that serves it, ``recording_url``), which
    may begin while the call is still up when the callback went to another number."""
    call: list[TicketEvent] = []
    attempts: dict[tuple[str, int], list[TicketEvent]] = {}
    for event in sorted(ticket.events, key=lambda e: e.at):
        which = _attempt_of(event)
        if which is None:
            call.append(event)
        else:
            attempts.setdefault(which, []).append(event)
    sections: list[tuple[float, dict[str, Any]]] = [
        (
            ticket.start.started_at,
            {
                "section": "call",
                "started_at": iso(ticket.start.started_at),
                "ended_at": iso(ticket.ended_at),
                "events": [_event(e) for e in call],
            },
        )
    ]
    for (request, number), events in attempts.items():
        record = next((e.detail for e in events if e.kind == CALLBACK_ATTEMPT), {})
        sections.append(
            (
                events[0].at,
                {
                    "section": CALLBACK_ATTEMPT,
                    "request": request,
                    "attempt": number,
                    "started_at": iso(events[0].at),
                    "ended_at": iso(events[-1].at),
                    "outcome": record.get("outcome"),
                    "agent": record.get("agent"),
                    "recording": record.get("recording"),
                    "recording_url": (
                        f"/api/tickets/{ticket.id}/recording?callback={request}&attempt={number}"
                        if record.get("recording")
                        else None
                    ),
                    "events": [_event(e) for e in events],
                },
            )
        )
    sections.sort(key=lambda section: section[0])
    return [section for _, section in sections]
