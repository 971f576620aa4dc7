"""Escalation from the agent desk: hand the connected caller to the second line.

``POST /api/desk/{agent_id}/escalate`` with ``{"mode": "blind" | "attended",
"queue": name}`` or ``{"mode": ..., "extension": digits}`` (only where the dialling
policy allows it); then, for an attended one, ``POST .../escalate/complete`` (join
the caller and the second line, the agent drops) or ``.../escalate/cancel`` (back to
the caller). The worker carrying the call does it (:mod:`ivr.agents.escalation`) and
answers within seconds; the steps show on the desk and are ``escalation`` events on
the ticket. Each request is audited (``desk.escalate``, ``desk.escalate_complete``,
``desk.escalate_cancel``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from ivr.agents.desk_calls import CONNECTED, DeskCall
from ivr.agents.desk_commands import DeskCommand, DeskCommands
from ivr.agents.dialling import DialPolicy
from ivr.api.auth import principal, requires
from ivr.api.desk import SOURCES, agent_param
from ivr.api.json_body import json_body
from ivr.api.tickets import bad_request
from ivr.api.tokens import Role
from ivr.exceptions import DialRefused

MODES = {"blind": "blind", "attended": "consult"}  # the mode asked -> the call's command
BODY_KEYS = ("mode", "queue", "extension")


@dataclass(frozen=True)
class EscalationParts:
    policy: DialPolicy
    commands: DeskCommands


PARTS = web.AppKey("desk_escalation", EscalationParts)


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


async def _connected_call(request: web.Request, agent_id: str) -> DeskCall:
    try:
        record = await request.app[SOURCES].calls.current(agent_id)
    except (RedisError, OSError) as exc:
        raise _error(web.HTTPServiceUnavailable, f"agent state unavailable: {exc}") from exc
    if record is None or record.phase != CONNECTED or record.pop.get("kind", "call") != "call":
        raise _error(web.HTTPConflict, f"agent {agent_id} has no connected call to escalate")
    return record


async def _send(request: web.Request, command: DeskCommand) -> web.Response:
    try:
        answer = await request.app[PARTS].commands.send(command)
    except (RedisError, OSError) as exc:
        raise _error(web.HTTPServiceUnavailable, f"calls unreachable: {exc}") from exc
    if answer is None:
        raise _error(web.HTTPConflict, "the call did not answer: it has ended or moved on")
    if not answer.get("ok"):
        raise _error(web.HTTPConflict, str(answer.get("error") or "refused by the call"))
    body = {"action": command.action, "queue": command.queue or None}
    return web.json_response({**body, "extension": command.extension or None, **answer})


async def _staffed(request: web.Request, queue: str) -> None:
    """409 when nobody is logged in to ``queue``: the caller would only be dropped."""
    try:
        status = await request.app[SOURCES].desk.status(queue)
    except (RedisError, OSError) as exc:
        raise _error(web.HTTPServiceUnavailable, f"queue state unavailable: {exc}") from exc
    if status.agents_staffed == 0:
        raise _error(web.HTTPConflict, f"nobody is logged in to queue {queue}")


def _target(request: web.Request, body: dict[str, Any]) -> tuple[str, str]:
    """(queue, extension), one of them empty; raises 400, or 403 for an extension the
    dialling policy refuses."""
    queue, extension = body.get("queue"), body.get("extension")
    if (queue is None) == (extension is None):
        raise bad_request("give either queue or extension")
    if queue is not None:
        if not isinstance(queue, str) or queue not in request.app[SOURCES].desk.settings:
            raise bad_request(f"no queue {str(queue)[:64]!r} is configured")
        return queue, ""
    if not isinstance(extension, str):
        raise bad_request('extension must be text, e.g. "6201"')
    try:
        request.app[PARTS].policy.uri_for_extension(extension.strip())
    except DialRefused as exc:
        raise _error(
            web.HTTPForbidden,
            f"extension {extension[:32]!r} is refused by the dialling policy: {exc}",
        ) from exc
    return "", extension.strip()


@requires(Role.AGENT, "desk.escalate", own="agent_id")
async def escalate(request: web.Request) -> web.Response:
    agent_id = agent_param(request)
    body: Any = await json_body(request, 'JSON like {"mode": "blind", "queue": "second-line"}')
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object with mode and queue or extension")
    unknown = sorted(set(body) - set(BODY_KEYS))
    if unknown:
        raise bad_request(f"unknown field {unknown[0]!r} (known: {', '.join(BODY_KEYS)})")
    mode = body.get("mode")
    if mode not in MODES:
        raise bad_request(f"mode must be one of {', '.join(MODES)}")
    queue, extension = _target(request, body)
    record = await _connected_call(request, agent_id)
    if queue and queue == record.pop.get("queue"):
        raise bad_request(f"the call came through queue {queue}: choose another")
    if queue:
        await _staffed(request, queue)
    command = DeskCommand(
        call=record.call,
        agent=agent_id,
        action=MODES[mode],
        queue=queue,
        extension=extension,
        actor=principal(request).name,
    )
    return await _send(request, command)


async def _follow_up(request: web.Request, action: str) -> web.Response:
    agent_id = agent_param(request)
    record = await _connected_call(request, agent_id)
    state = (record.escalation or {}).get("state")
    if (record.escalation or {}).get("mode") != "attended" or state not in (
        "dialling",
        "consulting",
    ):
        raise _error(web.HTTPConflict, f"agent {agent_id} has no consultation in progress")
    command = DeskCommand(
        call=record.call, agent=agent_id, action=action, actor=principal(request).name
    )
    return await _send(request, command)


@requires(Role.AGENT, "desk.escalate_complete", own="agent_id")
async def complete(request: web.Request) -> web.Response:
    return await _follow_up(request, "complete")


@requires(Role.AGENT, "desk.escalate_cancel", own="agent_id")
async def cancel(request: web.Request) -> web.Response:
    return await _follow_up(request, "cancel")


def add_escalation_routes(app: web.Application, policy: DialPolicy, commands: DeskCommands) -> None:
    """After :func:`ivr.api.desk.add_desk_routes`."""
    app[PARTS] = EscalationParts(policy, commands)
    app.router.add_post("/api/desk/{agent_id}/escalate", escalate)
    app.router.add_post("/api/desk/{agent_id}/escalate/complete", complete)
    app.router.add_post("/api/desk/{agent_id}/escalate/cancel", cancel)
