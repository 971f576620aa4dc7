"""``/api/calls/{call_id}/monitor``: a supervisor listens in on a live bridged call.

``POST {"mode": "listen" | "whisper" | "barge", "extension": "6901"}`` dials the
supervisor's extension (through the dialling policy) and mixes the call as the mode
says (:mod:`ivr.agents.monitor`); on a call monitored already it changes the mode (the
same extension) or answers 409 (another). ``PATCH {"mode": ...}`` changes the mode,
``DELETE`` ends the monitor and hangs the supervisor up, ``GET`` shows the bridge
(agent, since) and its monitor. Supervisor role and above, every write audited.

The worker carrying the call does the work. Another worker finds it in the bridge
record in Redis and relays the request to the API address that worker published
(``?local=1``: not passed on again), with the caller's token, which both check.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import aiohttp
from aiohttp import web
from redis.exceptions import RedisError

from ivr.agents.monitor import Mode, MonitorBusy, Monitoring, NoMonitor, NotBridged
from ivr.api.auth import principal, requires
from ivr.api.json_body import json_body
from ivr.api.tokens import Role
from ivr.exceptions import DialRefused, TelephonyError
from ivr.tickets.json_view import iso

log = logging.getLogger(__name__)

MONITORING = web.AppKey("monitoring", Monitoring)
RELAY_TIMEOUT_SECONDS = 45.0  # longer than the supervisor's phone rings
_EXTENSION = re.compile(r"[0-9*#+]{1,32}")


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


def _shown(view: dict[str, Any]) -> dict[str, Any]:
    """Times as ISO 8601, as every API time."""
    monitor = view.get("monitor")
    shown = {**view, "bridged_since": iso(view.get("bridged_since"))}
    if isinstance(monitor, dict):
        shown["monitor"] = {**monitor, "since": iso(monitor.get("since"))}
    return shown


async def _fields(request: web.Request, with_extension: bool) -> tuple[Mode, str]:
    body: Any = await json_body(request, 'JSON like {"mode": "listen", "extension": "6901"}')
    if not isinstance(body, dict):
        raise _error(web.HTTPBadRequest, 'body must be JSON like {"mode": "listen"}')
    try:
        mode = Mode.parse(body.get("mode"))
    except ValueError as exc:
        raise _error(web.HTTPBadRequest, str(exc)) from None
    extension = body.get("extension")
    if not with_extension:
        return mode, ""
    if not isinstance(extension, str) or not _EXTENSION.fullmatch(extension):
        raise _error(web.HTTPBadRequest, "extension must be 1-32 digits, *, # or +")
    return mode, extension


async def _elsewhere(request: web.Request, monitoring: Monitoring) -> web.Response | None:
    """The answer of the worker carrying the call, when it is not this one; None when the
    request is this worker's to serve."""
    call_id = request.match_info["call_id"]
    if monitoring.carries(call_id) or request.query.get("local") == "1":
        return None
    found = await monitoring.published(call_id)
    worker = None if found is None else str(found.get("worker_id") or "")
    if not worker or worker == monitoring.worker_id:
        return None  # not bridged: the local handler says so
    try:
        api = await monitoring.worker_api(worker)
    except (RedisError, OSError) as exc:
        raise _error(web.HTTPServiceUnavailable, f"Redis unreachable: {exc}") from None
    if api is None:
        raise _error(web.HTTPBadGateway, f"call is on worker {worker}, whose address is unknown")
    url = f"{api}{request.rel_url.update_query(local='1')}"
    headers = {"Authorization": request.headers.get("Authorization", "")}
    body = await request.read() if request.body_exists else None
    if body is not None:
        headers["Content-Type"] = "application/json"
    timeout = aiohttp.ClientTimeout(total=RELAY_TIMEOUT_SECONDS)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(request.method, url, data=body, headers=headers) as upstream,
        ):
            text = await upstream.text()
            return web.Response(status=upstream.status, text=text, content_type="application/json")
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("monitor request to worker %s failed: %s", worker, exc)
        raise _error(web.HTTPBadGateway, f"worker {worker} did not answer: {exc}") from None


@requires(Role.SUPERVISOR, "call.monitor.read")
async def show_monitor(request: web.Request) -> web.Response:
    """The call's bridge and monitor; 404 when the call is not bridged to an agent."""
    monitoring = request.app[MONITORING]
    call_id = request.match_info["call_id"]
    view = monitoring.view(call_id) if request.query.get("local") == "1" else None
    view = view or await monitoring.published(call_id)
    if view is None:
        raise _error(web.HTTPNotFound, f"call {call_id[:80]!r} is not bridged to an agent")
    return web.json_response(_shown(view))


@requires(Role.SUPERVISOR, "call.monitor")
async def start_monitor(request: web.Request) -> web.Response:
    monitoring = request.app[MONITORING]
    call_id = request.match_info["call_id"]
    mode, extension = await _fields(request, with_extension=True)
    try:
        monitoring.target(extension)  # refused here, before any relay or dial
    except DialRefused as exc:
        refusal = f"extension {extension} may not be dialled: {exc}"
        raise _error(web.HTTPForbidden, refusal) from None
    relayed = await _elsewhere(request, monitoring)
    if relayed is not None:
        return relayed
    actor = principal(request).name
    current = monitoring.view(call_id)
    monitor = None if current is None else current.get("monitor")
    try:
        if isinstance(monitor, dict):
            if monitor.get("extension") != extension:
                raise MonitorBusy(
                    f"call {call_id[:80]!r} is monitored from extension {monitor.get('extension')}"
                )
            return web.json_response(_shown(await monitoring.switch(call_id, mode, actor)))
        view = await monitoring.start(call_id, mode, extension, actor)
    except (NotBridged, NoMonitor) as exc:
        raise _error(web.HTTPNotFound, str(exc)) from None
    except MonitorBusy as exc:
        raise _error(web.HTTPConflict, str(exc)) from None
    except DialRefused as exc:  # a dialling limit (hours, caps), counted at the dial
        raise _error(web.HTTPForbidden, str(exc)) from None
    except TelephonyError as exc:
        raise _error(web.HTTPBadGateway, f"the supervisor's phone: {exc}") from None
    return web.json_response(_shown(view), status=201)


@requires(Role.SUPERVISOR, "call.monitor_mode")
async def change_monitor(request: web.Request) -> web.Response:
    monitoring = request.app[MONITORING]
    mode, _ = await _fields(request, with_extension=False)
    relayed = await _elsewhere(request, monitoring)
    if relayed is not None:
        return relayed
    try:
        view = await monitoring.switch(request.match_info["call_id"], mode, principal(request).name)
    except (NotBridged, NoMonitor) as exc:
        raise _error(web.HTTPNotFound, str(exc)) from None
    return web.json_response(_shown(view))


@requires(Role.SUPERVISOR, "call.monitor_end")
async def end_monitor(request: web.Request) -> web.Response:
    monitoring = request.app[MONITORING]
    relayed = await _elsewhere(request, monitoring)
    if relayed is not None:
        return relayed
    try:
        view = await monitoring.stop(request.match_info["call_id"], principal(request).name)
    except (NotBridged, NoMonitor) as exc:
        raise _error(web.HTTPNotFound, str(exc)) from None
    return web.json_response(_shown(view))


def add_monitor_routes(app: web.Application, monitoring: Monitoring) -> None:
    app[MONITORING] = monitoring
    path = "/api/calls/{call_id}/monitor"
    app.router.add_get(path, show_monitor)
    app.router.add_post(path, start_monitor)
    app.router.add_patch(path, change_monitor)
    app.router.add_delete(path, end_monitor)
