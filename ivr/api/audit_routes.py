"""``GET /api/audit`` (admin): the audit log; ``GET /api/whoami``: the caller's token."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ivr.api.auth import principal as caller_of
from ivr.api.auth import requires
from ivr.api.tickets import TICKETS, bad_request, time_param
from ivr.api.tokens import Role
from ivr.tickets.audit import OUTCOMES, AuditEntry, AuditQuery
from ivr.tickets.json_view import iso

MAX_PAGE_SIZE = 500
MAX_TEXT = 200
_KNOWN = ("since", "until", "actor", "action", "outcome", "limit", "offset")


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": iso(entry.at),
        "actor": entry.actor,
        "role": entry.role,
        "action": entry.action,
        "target": entry.target,
        "outcome": entry.outcome,
        "detail": entry.detail,
    }


def _whole(text: str | None, name: str, default: int, high: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or int(text) > high:
        raise bad_request(f"{name} must be a whole number from 0 to {high}, not {text!r}")
    return int(text)


def parse_audit_query(query: Any) -> AuditQuery:
    unknown = sorted(set(query) - set(_KNOWN))
    if unknown:
        raise bad_request(f"unknown parameter {unknown[0]!r} (known: {', '.join(_KNOWN)})")
    texts = {}
    for name in ("actor", "action"):
        value = query.get(name) or None
        if value is not None and len(value) > MAX_TEXT:
            raise bad_request(f"{name} must be at most {MAX_TEXT} characters")
        texts[name] = value
    outcome = query.get("outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        raise bad_request(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    limit = _whole(query.get("limit"), "limit", 100, MAX_PAGE_SIZE)
    if limit == 0:
        raise bad_request(f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}")
    return AuditQuery(
        since=time_param(query, "since"),
        until=time_param(query, "until"),
        outcome=outcome,
        limit=limit,
        offset=_whole(query.get("offset"), "offset", 0, 10**9),
        **texts,
    )


@requires(Role.ADMIN, "audit.read")
async def list_audit(request: web.Request) -> web.Response:
    """Newest first; filters ``since``, ``until``, ``actor``, ``action``, ``outcome``."""
    query = parse_audit_query(request.query)
    entries = await request.app[TICKETS].audit_entries(query)
    return web.json_response(
        {"entries": [entry_json(e) for e in entries], "limit": query.limit, "offset": query.offset}
    )


async def whoami(request: web.Request) -> web.Response:
    """The name, role and bound agent of the token sent (the dashboard's login check)."""
    caller = caller_of(request)
    return web.json_response(
        {"name": caller.name, "role": caller.role.label, "agent_id": caller.agent_id}
    )


def add_audit_routes(app: web.Application) -> None:
    """Needs the ticket store under :data:`ivr.api.tickets.TICKETS` (add_ticket_routes)."""
    app.router.add_get("/api/audit", list_audit)
    app.router.add_get("/api/whoami", whoami)
