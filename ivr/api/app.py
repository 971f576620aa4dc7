"""The HTTP API: health, live calls, tickets. JSON in and out, 4xx with a reason."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from ivr.api.audit_routes import add_audit_routes
from ivr.api.auth import AUDIT_LOG, TOKENS, access_control, describe_access, requires
from ivr.api.speech import add_speech_routes
from ivr.api.stats import add_stats_routes
from ivr.api.tickets import add_ticket_routes
from ivr.api.tokens import Role, TokenBook
from ivr.dialplan.registry import PlanActionRefused, PlanRegistry
from ivr.exceptions import IvrError
from ivr.state.live_calls import LiveCallRegistry
from ivr.telephony.interface import Telephony
from ivr.tickets.json_view import iso
from ivr.tickets.store import TicketStore

log = logging.getLogger(__name__)


@dataclass
class ServiceStatus:
    """What health reports beyond the components themselves."""

    worker_id: str
    started_at: float
    accepting_calls: bool = True
    ticket_database: Callable[[], str] = lambda: "ok"  # or why writes are being spooled


LIVE_CALLS = web.AppKey("live_calls", LiveCallRegistry)
TELEPHONY = web.AppKey("telephony", Telephony)
PLANS = web.AppKey("plans", PlanRegistry)
STATUS = web.AppKey("status", ServiceStatus)


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def health(request: web.Request) -> web.Response:
    """What a probe needs, open to anyone: no file paths, no plan problems (those are in
    ``GET /api/dialplans``), no personal data. ``degraded`` names what makes the status
    ``degraded``; Redis being away does not (calls go on)."""
    status = request.app[STATUS]
    telephony = request.app[TELEPHONY]
    plans = request.app[PLANS]
    registrations = [
        {"account": r.account, "registered": r.registered, "detail": r.detail}
        for r in telephony.registrations()
    ]
    _, redis_ok = await request.app[LIVE_CALLS].list_all()
    ticket_database = status.ticket_database()
    degraded = [
        part
        for part, ok in (
            ("accepting_calls", status.accepting_calls),
            ("registrations", all(r["registered"] for r in registrations)),
            ("ticket_database", ticket_database == "ok"),
        )
        if not ok
    ]
    body = {
        "status": "degraded" if degraded else "ok",
        "degraded": degraded,
        "worker_id": status.worker_id,
        "accepting_calls": status.accepting_calls,
        "live_calls": telephony.live_calls,
        "headroom": asdict(telephony.headroom()),
        "redis": "ok" if redis_ok else "unreachable",
        "ticket_database": ticket_database,
        "registrations": registrations,
        "plans": [{"name": p["name"], "version": p["version"]} for p in plans.summary()],
        "plan_files_refused": len(plans.errors),
        "started_at": iso(status.started_at),
    }
    return web.json_response(body)


async def live_calls(request: web.Request) -> web.Response:
    calls, complete = await request.app[LIVE_CALLS].list_all()
    for call in calls:
        call["started_at"] = iso(call["started_at"])
    return web.json_response({"calls": calls, "complete": complete})


async def live_call(request: web.Request) -> web.Response:
    """One live call with the nodes it went through (``path``); 404 once it has ended."""
    call_id = request.match_info["call_id"]
    call = await request.app[LIVE_CALLS].get(call_id)
    if call is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"no live call {call_id[:80]!r}"}),
            content_type="application/json",
        )
    call["started_at"] = iso(call["started_at"])
    for step in call["path"]:
        step["at"] = iso(step["at"])
    return web.json_response(call)


def plans_json(plans: PlanRegistry) -> dict[str, Any]:
    return {"plans": plans.summary(), "errors": plans.errors}


async def list_plans(request: web.Request) -> web.Response:
    return web.json_response(plans_json(request.app[PLANS]))


@requires(Role.OPERATOR, "dialplan.reload")
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
    @requires(Role.OPERATOR, f"dialplan.{action}")
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


@requires(Role.ADMIN, "routes.read")
async def list_routes(request: web.Request) -> web.Response:
    """Every API route served, with the role it needs: the API's table of contents."""
    routes = []
    for route in request.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if not path.startswith("/api/") or route.method == "HEAD":
            continue
        routes.append({"method": route.method, "path": path, **describe_access(route)})
    return web.json_response({"routes": routes})


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
    except RedisError as exc:  # shared state unreachable: ask again later
        log.warning("%s %s: Redis unavailable: %s", request.method, request.path, exc)
        raise web.HTTPServiceUnavailable(
            text=json.dumps({"error": f"shared state (Redis) unavailable: {exc}"}),
            content_type="application/json",
            headers={"Retry-After": "5"},
        ) from exc


def build_app(
    tickets: TicketStore,
    live: LiveCallRegistry,
    telephony: Telephony,
    plans: PlanRegistry,
    status: ServiceStatus,
    tokens: TokenBook,
) -> web.Application:
    """The API with its core routes; ``tokens`` are the ones it accepts (see ivr.api.auth)."""
    app = web.Application(middlewares=[errors_as_json, access_control], client_max_size=1024 * 1024)
    app[TOKENS] = tokens
    app[AUDIT_LOG] = tickets
    app[LIVE_CALLS] = live
    app[TELEPHONY] = telephony
    app[PLANS] = plans
    app[STATUS] = status
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/routes", list_routes)
    app.router.add_get("/api/calls", live_calls)
    app.router.add_get("/api/calls/{call_id}", live_call)
    add_ticket_routes(app, tickets)
    add_stats_routes(app)
    add_speech_routes(app, plans)
    add_audit_routes(app)
    app.router.add_get("/api/dialplans", list_plans)
    app.router.add_post("/api/dialplans/reload", reload_plans)
    app.router.add_post("/api/dialplans/{name}/promote", _plan_action("promote"))
    app.router.add_post("/api/dialplans/{name}/rollback", _plan_action("rollback"))
    return app
