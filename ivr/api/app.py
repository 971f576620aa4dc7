"""The HTTP API: health, live calls, tickets. JSON in and out, 4xx with a reason."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ivr.dialplan.registry import PlanActionRefused, PlanRegistry
from ivr.exceptions import IvrError
from ivr.state.live_calls import LiveCallRegistry
from ivr.telephony.interface import Telephony
from ivr.tickets.model import Disposition, Ticket, TicketQuery
from ivr.tickets.store import TicketStore

MAX_PAGE_SIZE = 500


@dataclass
class ServiceStatus:
    """What health reports beyond the components themselves."""

    worker_id: str
    started_at: float
    accepting_calls: bool = True


TICKETS = web.AppKey("tickets", TicketStore)
LIVE_CALLS = web.AppKey("live_calls", LiveCallRegistry)
TELEPHONY = web.AppKey("telephony", Telephony)
PLANS = web.AppKey("plans", PlanRegistry)
STATUS = web.AppKey("status", ServiceStatus)


def iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> float:
    """Unix seconds from ISO 8601 (naive means UTC) or a plain number."""
    try:
        return float(text)
    except ValueError:
        pass
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def ticket_json(ticket: Ticket, with_events: bool) -> dict[str, Any]:
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
    }
    if with_events:
        body["events"] = [{"at": iso(e.at), "kind": e.kind, **e.detail} for e in ticket.events]
    return body


async def health(request: web.Request) -> web.Response:
    status = request.app[STATUS]
    telephony = request.app[TELEPHONY]
    registrations = [
        {"account": r.account, "registered": r.registered, "detail": r.detail}
        for r in telephony.registrations()
    ]
    _, redis_ok = await request.app[LIVE_CALLS].list_all()
    healthy = status.accepting_calls and all(r["registered"] for r in registrations)
    body = {
        "status": "ok" if healthy else "degraded",
        "worker_id": status.worker_id,
        "accepting_calls": status.accepting_calls,
        "live_calls": telephony.live_calls,
        "redis": "ok" if redis_ok else "unreachable",
        "registrations": registrations,
        "plans": request.app[PLANS].summary(),
        "plan_errors": request.app[PLANS].errors,
        "started_at": iso(status.started_at),
    }
    return web.json_response(body)


async def live_calls(request: web.Request) -> web.Response:
    calls, complete = await request.app[LIVE_CALLS].list_all()
    for call in calls:
        call["started_at"] = iso(call["started_at"])
    return web.json_response({"calls": calls, "complete": complete})


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise bad_request(f"{name} must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


async def list_tickets(request: web.Request) -> web.Response:
    known = {"caller", "disposition", "since", "limit", "offset"}
    unknown = sorted(set(request.query) - known)
    if unknown:
        raise bad_request(f"unknown parameter {unknown[0]!r} (known: {', '.join(sorted(known))})")
    disposition = None
    if "disposition" in request.query:
        try:
            disposition = Disposition(request.query["disposition"])
        except ValueError:
            names = ", ".join(d.value for d in Disposition)
            raise bad_request(f"disposition must be one of {names}") from None
    since = None
    if "since" in request.query:
        try:
            since = parse_time(request.query["since"])
        except ValueError:
            raise bad_request("since must be an ISO 8601 time or Unix seconds") from None
    query = TicketQuery(
        caller=request.query.get("caller") or None,
        disposition=disposition,
        since=since,
        limit=_int_param(request, "limit", 50, 1, MAX_PAGE_SIZE),
        offset=_int_param(request, "offset", 0, 0, 10**9),
    )
    tickets = await request.app[TICKETS].search(query)
    return web.json_response(
        {
            "tickets": [ticket_json(t, False) for t in tickets],
            "limit": query.limit,
            "offset": query.offset,
        }
    )


async def get_ticket(request: web.Request) -> web.Response:
    text = request.match_info["ticket_id"]
    if not text.isdigit() or int(text) > 2**62:
        raise bad_request(f"ticket id must be a whole number, not {text!r}")
    ticket = await request.app[TICKETS].get(int(text))
    if ticket is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"no ticket {text}"}), content_type="application/json"
        )
    return web.json_response(ticket_json(ticket, True))


def plans_json(plans: PlanRegistry) -> dict[str, Any]:
    return {"plans": plans.summary(), "errors": plans.errors}


async def list_plans(request: web.Request) -> web.Response:
    return web.json_response(plans_json(request.app[PLANS]))


async def reload_plans(request: web.Request) -> web.Response:
    """Reload the plan folder; 422 when a changed plan was refused (the old version stays)."""
    report = await request.app[PLANS].reload()
    body = {
        "loaded": report.loaded,
        "refused": report.refused,
        "removed": report.removed,
        **plans_json(request.app[PLANS]),
    }
    return web.json_response(body, status=422 if report.refused else 200)


def _plan_action(action: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        plans = request.app[PLANS]
        try:
            plan = await (plans.promote(name) if action == "promote" else plans.rollback(name))
        except PlanActionRefused as exc:
            raise web.HTTPConflict(
                text=json.dumps({"error": str(exc)}), content_type="application/json"
            ) from exc
        return web.json_response({"name": plan.name, "version": plan.version, "action": action})

    return handler


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type != "application/json" and exc.status >= 400:
            exc.text = json.dumps({"error": exc.reason})
            exc.content_type = "application/json"
        raise
    except IvrError as exc:
        raise web.HTTPServiceUnavailable(
            text=json.dumps({"error": str(exc)}), content_type="application/json"
        ) from exc


def build_app(
    tickets: TicketStore,
    live: LiveCallRegistry,
    telephony: Telephony,
    plans: PlanRegistry,
    status: ServiceStatus,
) -> web.Application:
    app = web.Application(middlewares=[errors_as_json], client_max_size=1024 * 1024)
    app[TICKETS] = tickets
    app[LIVE_CALLS] = live
    app[TELEPHONY] = telephony
    app[PLANS] = plans
    app[STATUS] = status
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/calls", live_calls)
    app.router.add_get("/api/tickets", list_tickets)
    app.router.add_get("/api/tickets/{ticket_id}", get_ticket)
    app.router.add_get("/api/dialplans", list_plans)
    app.router.add_post("/api/dialplans/reload", reload_plans)
    app.router.add_post("/api/dialplans/{name}/promote", _plan_action("promote"))
    app.router.add_post("/api/dialplans/{name}/rollback", _plan_action("rollback"))
    return app
