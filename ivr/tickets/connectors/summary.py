"""A call told in plain text for a help desk: subject, body, the values its fields take.

Help-desk neutral: every connector words its tickets the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ivr.tickets.json_view import iso
from ivr.tickets.model import UTTERANCE, Ticket

MAX_SAID_LINES = 30


def tag(ticket_id: int) -> str:
    """In every subject: how people (and a connector without a custom field) find it."""
    return f"[IVR #{ticket_id}]"


def caller_name(ticket: Ticket) -> str:
    name = ticket.variables.get("employee_name")
    return f"{name} ({ticket.start.caller_number})" if name else ticket.start.caller_number


def subject(ticket: Ticket) -> str:
    topic = ticket.handling.intent or ticket.handling.queue or ticket.start.plan_name
    return f"{tag(ticket.id)} Call from {caller_name(ticket)}: {topic}"


def requestor(ticket: Ticket) -> str | None:
    """The caller's e-mail from the employee directory (``email`` column), if known."""
    email = ticket.variables.get("employee_email", "").strip()
    return email or None


def recording_url(ticket: Ticket, service_url: str) -> str | None:
    if not ticket.recording_path:
        return None
    return f"{service_url}/api/tickets/{ticket.id}/recording"


def arrived_body(ticket: Ticket, service_url: str) -> str:
    start = ticket.start
    return (
        f"Call from {caller_name(ticket)} to {start.called_number} at {iso(start.started_at)}, "
        f"plan {start.plan_name} {start.plan_version}. In progress.\n"
        f"Ticket: {service_url}/api/tickets/{ticket.id}\n"
    )


def closed_body(ticket: Ticket, service_url: str) -> str:
    handling = ticket.handling
    lines = [f"Caller: {caller_name(ticket)}"]
    employee = {k: ticket.variables.get(k) for k in ("employee_id", "department", "vip")}
    if employee["employee_id"]:
        lines.append(
            f"Employee: {employee['employee_id']}, {employee['department'] or '-'}"
            + (", VIP" if employee["vip"] == "yes" else "")
        )
    lines += [
        f"Called: {ticket.start.called_number}, plan {ticket.start.plan_name} "
        f"{ticket.start.plan_version}",
        f"From {iso(ticket.start.started_at)} to {iso(ticket.ended_at)}",
        f"Path: {' > '.join(ticket.nodes) or '-'}",
        f"Keys: {ticket.keys or '-'}",
        f"Intent: {handling.intent or '-'}",
    ]
    said = [e for e in ticket.events if e.kind == UTTERANCE][:MAX_SAID_LINES]
    if said:
        lines.append("What was said:")
        for event in said:
            intent = event.detail.get("intent")
            lines.append(f'  "{event.detail.get("text", "")}"' + (f" ({intent})" if intent else ""))
    if handling.queue:
        wait = (
            f", waited {handling.wait_seconds:.0f} s" if handling.wait_seconds is not None else ""
        )
        lines.append(f"Queue: {handling.queue}{wait}")
    if handling.agent_id:
        talk = f", talked {handling.talk_seconds:.0f} s" if handling.talk_seconds else ""
        lines.append(f"Agent: {handling.agent_id}{talk}")
    lines.append(f"Disposition: {ticket.disposition.value} ({ticket.end_reason or '-'})")
    if ticket.satisfaction is not None:
        lines.append(f"Satisfaction: {ticket.satisfaction}")
    recording = recording_url(ticket, service_url)
    lines.append(f"Recording: {recording or 'none'}")
    lines.append(f"Ticket: {service_url}/api/tickets/{ticket.id}")
    return "\n".join(lines) + "\n"


def attempt_body(attempt: Mapping[str, Any]) -> str:
    shown = ("attempt", "outcome", "reason", "agent_id", "number", "next_at")
    parts = [f"{key}: {attempt[key]}" for key in shown if attempt.get(key) not in (None, "")]
    return "Callback attempt. " + ", ".join(parts) + "\n"


def field_values(ticket: Ticket, fields: Mapping[str, str]) -> dict[str, str]:
    """The help desk's field name -> its value from ``ticket``, for the configured fields."""
    sources = {
        "ticket_id": str(ticket.id),
        "intent": ticket.handling.intent,
        "disposition": ticket.disposition.value,
        "queue": ticket.handling.queue,
        "agent": ticket.handling.agent_id,
        "caller": ticket.start.caller_number,
        "employee_id": ticket.variables.get("employee_id"),
        "plan": ticket.start.plan_name,
    }
    return {name: str(sources[source]) for source, name in fields.items() if sources.get(source)}
