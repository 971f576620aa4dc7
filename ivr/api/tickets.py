"""Ticket routes: search with filters and paging, CSV export, one ticket, agents' updates.

Every filter of ``GET /api/tickets`` also applies to ``GET /api/tickets.csv``.
Bad input is a 400 whose ``error`` names the parameter and what it must be.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ivr.api.auth import requires
from ivr.api.json_body import json_body
from ivr.api.tokens import Role
from ivr.tickets.json_view import iso, ticket_json
from ivr.tickets.model import (
    Disposition,
    Ticket,
    TicketNote,
    TicketQuery,
    TicketUpdate,
    WorkStatus,
)
from ivr.tickets.store import TicketStore

TICKETS = web.AppKey("tickets", TicketStore)

MAX_PAGE_SIZE = 500
MAX_EXPORT_ROWS = 1_000_000
EXPORT_PAGE = 1000
MAX_TEXT = 200  # filter values and assignee names
MAX_NOTE = 10_000
LATEST_TIME = 253_402_300_799.0  # 9999-12-31T23:59:59Z

_FILTERS = {
    "caller": "caller",
    "employee": "employee",
    "intent": "intent",
    "queue": "queue",
    "agent": "agent",
    "assignee": "assignee",
    "q": "text",
}
_KNOWN = {*_FILTERS, "disposition", "work_status", "since", "until", "limit", "offset"}
_UPDATE_KEYS = ("work_status", "assignee", "note", "author")


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def not_found(message: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(text=json.dumps({"error": message}), content_type="application/json")


def parse_time(text: str) -> float:
    """Unix seconds from ISO 8601 (naive means UTC) or a plain number.

    Raises:
        ValueError: neither.
    """
    try:
        seconds = float(text)
    except ValueError:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp()
    # NaN, infinity and years past 9999 cannot be shown as dates (or compared).
    if not 0 <= seconds <= LATEST_TIME:
        raise ValueError("out of range")
    return seconds


def time_param(query: Mapping[str, str], name: str) -> float | None:
    text = query.get(name)
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise bad_request(
            f"{name} must be an ISO 8601 time or Unix seconds, not {text!r}"
        ) from None


def _int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise bad_request(f"{name} must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


def _choice(query: Mapping[str, str], name: str, kind: type[Disposition] | type[WorkStatus]) -> Any:
    text = query.get(name)
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        names = ", ".join(member.value for member in kind)
        raise bad_request(f"{name} must be one of {names}, not {text!r}") from None


def parse_query(query: Mapping[str, str], default_limit: int, max_limit: int) -> TicketQuery:
    """A :class:`TicketQuery` from URL parameters; raises a 400 naming the bad one."""
    unknown = sorted(set(query) - _KNOWN)
    if unknown:
        raise bad_request(f"unknown parameter {unknown[0]!r} (known: {', '.join(sorted(_KNOWN))})")
    filters: dict[str, str] = {}
    for name, field_name in _FILTERS.items():
        value = query.get(name, "")
        if len(value) > MAX_TEXT:
            raise bad_request(f"{name} must be at most {MAX_TEXT} characters")
        if value:
            filters[field_name] = value
    since, until = time_param(query, "since"), time_param(query, "until")
    if since is not None and until is not None and since > until:
        raise bad_request("since must not be after until")
    return TicketQuery(
        **filters,
        disposition=_choice(query, "disposition", Disposition),
        work_status=_choice(query, "work_status", WorkStatus),
        since=since,
        until=until,
        limit=_int_param(query, "limit", default_limit, 1, max_limit),
        offset=_int_param(query, "offset", 0, 0, 10**9),
    )


async def list_tickets(request: web.Request) -> web.Response:
    query = parse_query(request.query, 50, MAX_PAGE_SIZE)
    store = request.app[TICKETS]
    tickets = await store.search(query)
    total = await store.count(query)
    return web.json_response(
        {
            "tickets": [ticket_json(t, False) for t in tickets],
            "limit": query.limit,
            "offset": query.offset,
            "total": total,
        }
    )


CSV_COLUMNS = (
    "id",
    "call_id",
    "started_at",
    "answered_at",
    "ended_at",
    "caller_number",
    "called_number",
    "employee_id",
    "plan",
    "plan_version",
    "disposition",
    "end_reason",
    "nodes",
    "keys",
    "intent",
    "queue",
    "wait_seconds",
    "agent_id",
    "ring_attempts",
    "talk_seconds",
    "transfer_method",
    "satisfaction",
    "work_status",
    "assignee",
    "recording_path",
)


def _csv_row(ticket: Ticket) -> list[Any]:
    start, handling = ticket.start, ticket.handling
    return [
        ticket.id,
        start.call_id,
        iso(start.started_at),
        iso(ticket.answered_at),
        iso(ticket.ended_at),
        start.caller_number,
        start.called_number,
        ticket.variables.get("employee_id", ""),
        start.plan_name,
        start.plan_version,
        ticket.disposition.value,
        ticket.end_reason,
        " > ".join(ticket.nodes),
        ticket.keys,
        handling.intent,
        handling.queue,
        handling.wait_seconds,
        handling.agent_id,
        handling.ring_attempts,
        handling.talk_seconds,
        handling.transfer_method,
        ticket.satisfaction,
        ticket.work_status.value,
        ticket.assignee,
        ticket.recording_path,
    ]


async def export_csv(request: web.Request) -> web.StreamResponse:
    """All matching tickets (``limit`` caps them), newest first, streamed page by page."""
    query = parse_query(request.query, MAX_EXPORT_ROWS, MAX_EXPORT_ROWS)
    store = request.app[TICKETS]
    first = await store.search(_page(query, 0))  # errors before the 200 goes out
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="tickets-{int(time.time())}.csv"',
        }
    )
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    page, sent = first, 0
    while page:
        writer.writerows(_csv_row(t) for t in page)
        await response.write(buffer.getvalue().encode())
        buffer.seek(0)
        buffer.truncate()
        sent += len(page)
        if len(page) < EXPORT_PAGE or sent >= query.limit:
            break
        page = await store.search(_page(query, sent))
    if buffer.getvalue():
        await response.write(buffer.getvalue().encode())
    await response.write_eof()
    return response


def _page(query: TicketQuery, done: int) -> TicketQuery:
    return replace(
        query,
        offset=query.offset + done,
        limit=min(EXPORT_PAGE, query.limit - done),
    )


def _ticket_id(request: web.Request) -> int:
    return ticket_id_param(request.match_info["ticket_id"])


def ticket_id_param(text: str) -> int:
    """A ticket id from a path; a 400 unless a whole number a database column holds."""
    if not text.isascii() or not text.isdigit() or int(text) > 2**62:
        raise bad_request(f"ticket id must be a whole number, not {text[:40]!r}")
    return int(text)


async def get_ticket(request: web.Request) -> web.Response:
    ticket_id = _ticket_id(request)
    ticket = await request.app[TICKETS].get(ticket_id)
    if ticket is None:
        raise not_found(f"no ticket {ticket_id}")
    return web.json_response(ticket_json(ticket, True))


def _text(body: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{key} must be non-empty text")
    if len(value) > limit:
        raise bad_request(f"{key} must be at most {limit} characters")
    return value.strip()


def parse_update(body: Any) -> TicketUpdate:
    """A :class:`TicketUpdate` from a PATCH body; raises a 400 naming the bad field."""
    if not isinstance(body, dict):
        raise bad_request(
            "body must be a JSON object with work_status, assignee and/or note (and author)"
        )
    unknown = sorted(set(body) - set(_UPDATE_KEYS))
    if unknown:
        raise bad_request(f"unknown field {unknown[0]!r} (known: {', '.join(_UPDATE_KEYS)})")
    status = None
    if "work_status" in body:
        names = ", ".join(s.value for s in WorkStatus)
        if not isinstance(body["work_status"], str):
            raise bad_request(f"work_status must be one of {names}")
        try:
            status = WorkStatus(body["work_status"])
        except ValueError:
            raise bad_request(
                f"work_status must be one of {names}, not {body['work_status']!r}"
            ) from None
    unassign = "assignee" in body and body["assignee"] is None
    assignee = _text(body, "assignee", MAX_TEXT)
    note_text = _text(body, "note", MAX_NOTE)
    author = _text(body, "author", MAX_TEXT)
    if author is not None and note_text is None:
        raise bad_request("author goes with a note")
    if status is None and assignee is None and not unassign and note_text is None:
        raise bad_request("nothing to change: give work_status, assignee or note")
    note = None if note_text is None else TicketNote(time.time(), note_text, author)
    return TicketUpdate(work_status=status, assignee=assignee, unassign=unassign, note=note)


@requires(Role.OPERATOR, "ticket.update")
async def update_ticket(request: web.Request) -> web.Response:
    """PATCH: work status, assignee (null unassigns), a note appended; the ticket after."""
    ticket_id = _ticket_id(request)
    body = await json_body(request, "JSON")
    ticket = await request.app[TICKETS].update(ticket_id, parse_update(body))
    if ticket is None:
        raise not_found(f"no ticket {ticket_id}")
    return web.json_response(ticket_json(ticket, True))


def add_ticket_routes(app: web.Application, store: TicketStore) -> None:
    app[TICKETS] = store
    app.router.add_get("/api/tickets", list_tickets)
    app.router.add_get("/api/tickets.csv", export_csv)
    app.router.add_get("/api/tickets/{ticket_id}", get_ticket)
    app.router.add_patch("/api/tickets/{ticket_id}", update_ticket)
