"""The agent desk: the page at ``/agent`` and what it reads and writes.

An agent signs in with an API token bound to their agent id (role ``agent``,
``agent_id`` set: ``ivr api-token new --role agent --agent-id ID``); operators
and admins may open any agent's desk. The page keeps the token in the tab's
``sessionStorage`` and sends it as a bearer token, like the dashboard.

``GET /api/desk/{agent_id}`` is one snapshot (:mod:`ivr.api.desk_view`);
``GET /api/desk/{agent_id}/stream`` sends it as ``event: desk`` whenever it
changes (checked every quarter second, so a call that rings shows within a
second), with a comment line every 15 s for proxies. ``POST
/api/desk/{agent_id}/wrap-up`` writes the agent's wrap-up to the ticket: a
disposition code from the queue's list, a note, the work status and assignee,
and a ``wrap_up`` event; the audit log has the request like every write.
State changes use ``POST /api/agents/{agent_id}/state`` (the desk's "ready now"
ends a wrap-up with ``available``); escalations are :mod:`ivr.api.desk_escalation`.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from callback.requests import CallbackRequests
from ivr.agents.desk_calls import DeskCall, DeskCalls
from ivr.agents.queues import QueueDesk
from ivr.api.auth import requires
from ivr.api.desk_view import DeskReads, DeskSources, desk_json
from ivr.api.event_stream import ChangeStream, open_event_stream, pause
from ivr.api.json_body import json_body
from ivr.api.tickets import MAX_NOTE, MAX_TEXT, bad_request, not_found, ticket_id_param
from ivr.api.tokens import Role
from ivr.tickets.model import TicketEvent, TicketNote, TicketUpdate, WorkStatus
from ivr.tickets.store import TicketStore

STATIC_DIR = Path(__file__).parent / "static"
CHECK_INTERVAL_SECONDS = 0.25
WRAP_UP_KEYS = ("ticket_id", "disposition", "note", "work_status", "assignee")
WRAP_UP_EVENT = "wrap_up"

SOURCES = web.AppKey("desk_sources", DeskSources)
STOPPING = web.AppKey("desk_stopping", asyncio.Event)


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


def agent_param(request: web.Request) -> str:
    """The path's agent id; 404 unless a configured agent."""
    agent_id = request.match_info["agent_id"]
    if request.app[SOURCES].desk.board.settings(agent_id) is None:
        raise not_found(f"no agent {agent_id!r}")
    return agent_id


async def _snapshot(request: web.Request, agent_id: str, reads: DeskReads) -> dict[str, Any]:
    try:
        return await desk_json(request.app[SOURCES], agent_id, reads)
    except (RedisError, OSError) as exc:
        raise _error(web.HTTPServiceUnavailable, f"agent state unavailable: {exc}") from exc


async def agent_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "agent.html", headers={"Cache-Control": "no-cache"})


@requires(Role.AGENT, "desk.read", own="agent_id")
async def get_desk(request: web.Request) -> web.Response:
    return web.json_response(await _snapshot(request, agent_param(request), DeskReads()))


@requires(Role.AGENT, "desk.read", own="agent_id")
async def stream_desk(request: web.Request) -> web.StreamResponse:
    agent_id = agent_param(request)
    reads = DeskReads()
    text = json.dumps(await _snapshot(request, agent_id, reads), sort_keys=True)
    response = await open_event_stream(request)
    events = ChangeStream(response, "desk")
    stopping = request.app[STOPPING]
    try:
        while not stopping.is_set():
            await events.offer(text)
            await pause(stopping, CHECK_INTERVAL_SECONDS)
            try:
                snapshot: Any = await desk_json(request.app[SOURCES], agent_id, reads)
            except (RedisError, OSError) as exc:
                snapshot = {"error": f"agent state unavailable: {exc}"}
            text = json.dumps(snapshot, sort_keys=True)
    except (ConnectionResetError, ConnectionError):
        pass  # the agent closed the page
    return response


def _optional_text(body: dict[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise bad_request(f"{key} must be text")
    if len(value) > limit:
        raise bad_request(f"{key} must be at most {limit} characters")
    return value.strip()


def _work_status(body: dict[str, Any]) -> WorkStatus:
    names = ", ".join(s.value for s in WorkStatus)
    try:
        return WorkStatus(body.get("work_status"))
    except ValueError:
        raise bad_request(f"work_status must be one of {names}") from None


def _matches(record: DeskCall | None, ticket_id: int) -> bool:
    return record is not None and record.pop.get("ticket_id") == ticket_id


@requires(Role.AGENT, "desk.wrap_up", own="agent_id")
async def wrap_up(request: web.Request) -> web.Response:
    """Body ``{"ticket_id": N, "work_status": "open" | "in_progress" | "resolved",
    "disposition": code, "note": text, "assignee": name}``: the ticket of a call the
    agent took (ringing, connected or ended). ``disposition`` is required, and must
    be in the list, when the call's queue lists codes."""
    agent_id = agent_param(request)
    sources = request.app[SOURCES]
    body: Any = await json_body(request, "a JSON object with ticket_id and work_status")
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object with ticket_id and work_status")
    unknown = sorted(set(body) - set(WRAP_UP_KEYS))
    if unknown:
        raise bad_request(f"unknown field {unknown[0]!r} (known: {', '.join(WRAP_UP_KEYS)})")
    raw_id = body.get("ticket_id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, int | str):
        raise bad_request("ticket_id must be a whole number")
    ticket_id = ticket_id_param(str(raw_id))
    status = _work_status(body)
    note = _optional_text(body, "note", MAX_NOTE)
    assignee = _optional_text(body, "assignee", MAX_TEXT)
    code = _optional_text(body, "disposition", MAX_TEXT)
    try:
        record = await sources.calls.current(agent_id)
    except (RedisError, OSError) as exc:
        raise _error(web.HTTPServiceUnavailable, f"agent state unavailable: {exc}") from exc
    ticket = await sources.tickets.get(ticket_id)
    if ticket is None:
        raise not_found(f"no ticket {ticket_id}")
    on_desk = _matches(record, ticket_id)
    if not on_desk and ticket.handling.agent_id != agent_id:
        raise _error(web.HTTPForbidden, f"ticket {ticket_id} is not a call of agent {agent_id}")
    queue = ticket.handling.queue or (record.pop.get("queue") if record and on_desk else None)
    codes = sources.dispositions(queue)
    if codes and code not in codes:
        raise bad_request(f"disposition must be one of {', '.join(codes)} (queue {queue})")
    if not codes and code is not None:
        raise bad_request(f"queue {queue} lists no disposition codes")
    detail = {"agent": agent_id, "disposition": code, "work_status": status.value}
    await sources.tickets.append_event(ticket_id, TicketEvent(time.time(), WRAP_UP_EVENT, detail))
    update = TicketUpdate(
        work_status=status,
        assignee=assignee,
        note=None if note is None else TicketNote(time.time(), note, agent_id),
    )
    await sources.tickets.update(ticket_id, update)
    if record is not None and on_desk:
        try:
            await sources.calls.wrapped_up(agent_id, record.call)
        except (RedisError, OSError):
            pass  # written to the ticket; the desk offers the form again, nothing is lost
    return web.json_response({"ticket_id": ticket_id, **detail, "assignee": assignee})


async def _stop_streams(app: web.Application) -> None:
    app[STOPPING].set()  # open streams would hold the server's shutdown


def add_desk_routes(
    app: web.Application,
    desk: QueueDesk,
    calls: DeskCalls,
    tickets: TicketStore,
    mask_numbers: bool,
    callbacks: CallbackRequests | None = None,
) -> None:
    """``/agent`` (its script and style are under ``/static/``, which the dashboard
    serves) and ``/api/desk/...``; ``callbacks``: the bookings "my callbacks" lists."""
    app[SOURCES] = DeskSources(desk, calls, tickets, mask_numbers, callbacks)
    app[STOPPING] = asyncio.Event()
    app.on_shutdown.append(_stop_streams)
    app.router.add_get("/agent", agent_page)
    app.router.add_get("/api/desk/{agent_id}", get_desk)
    app.router.add_get("/api/desk/{agent_id}/stream", stream_desk)
    app.router.add_post("/api/desk/{agent_id}/wrap-up", wrap_up)
