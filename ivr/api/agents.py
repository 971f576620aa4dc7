"""Agents and queues over HTTP: list agents, change an agent's state, queue figures."""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from ivr.agents.board import REQUESTABLE, AgentState
from ivr.agents.queues import QueueDesk
from ivr.api.auth import requires
from ivr.api.json_body import json_body
from ivr.api.tokens import Role
from ivr.tickets.json_view import iso

DESK = web.AppKey("desk", QueueDesk)


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


async def list_agents(request: web.Request) -> web.Response:
    views = await request.app[DESK].board.views()
    return web.json_response(
        {
            "agents": [
                {
                    "id": v.id,
                    "name": v.name,
                    "uri": v.uri,
                    "queues": list(v.queues),
                    "state": v.state.value,
                    "since": iso(v.since or None),  # ISO 8601, as every API time
                    "break_requested": v.break_requested,
                    "break_at": iso(v.break_at or None),
                    "reason": v.reason,
                }
                for v in views
            ]
        }
    )


@requires(Role.AGENT, "agent.state", own="agent_id")
async def set_agent_state(request: web.Request) -> web.Response:
    """Body ``{"state": "available" | "offline" | "break"}``. A break at a peak is
    held (``break_requested``) until the queues can spare the agent."""
    desk = request.app[DESK]
    agent_id = request.match_info["agent_id"]
    if desk.board.settings(agent_id) is None:
        raise _error(web.HTTPNotFound, f"no agent {agent_id!r}")
    body: Any = await json_body(request, 'JSON like {"state": "available"}')
    names = [s.value for s in REQUESTABLE]
    state_name = body.get("state") if isinstance(body, dict) else None
    if state_name not in names:
        raise _error(web.HTTPBadRequest, f"state must be one of {', '.join(names)}")
    state = AgentState(state_name)
    taken = await desk.request_state(agent_id, state)
    view = await desk.board.view(agent_id)
    return web.json_response(
        {
            "id": agent_id,
            "requested": state.value,
            "result": taken,
            "state": view.state.value,
            "break_requested": view.break_requested,
            "break_at": iso(view.break_at or None),  # held: when the forecast lets it start
        }
    )


async def list_queues(request: web.Request) -> web.Response:
    desk = request.app[DESK]
    views = await desk.board.views()
    queues = []
    for name in desk.settings:
        status = await desk.status(name, views)
        wait = status.estimated_wait_seconds
        queues.append(
            {
                "name": name,
                "waiting": status.waiting,
                "longest_wait_seconds": round(status.longest_wait_seconds, 1),
                "agents_available": status.agents_available,
                "agents_staffed": status.agents_staffed,
                "average_handle_seconds": round(status.average_handle_seconds, 1),
                "estimated_wait_seconds": None if math.isinf(wait) else round(wait, 1),
                "transfer": desk.settings[name].transfer,
            }
        )
    return web.json_response({"queues": queues})


def add_agent_routes(app: web.Application, desk: QueueDesk) -> None:
    app[DESK] = desk
    app.router.add_get("/api/agents", list_agents)
    app.router.add_post("/api/agents/{agent_id}/state", set_agent_state)
    app.router.add_get("/api/queues", list_queues)
