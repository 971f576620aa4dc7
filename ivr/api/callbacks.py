"""Callbacks over HTTP: the list with counts, cancel, reprioritise."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

from aiohttp import web

from callback.requests import STATES, CallbackRequest, CallbackRequests
from callback.value import waited_text
from ivr.api.auth import requires
from ivr.api.json_body import json_body
from ivr.api.tokens import Role
from ivr.tickets.json_view import iso

CALLBACKS = web.AppKey("callbacks", CallbackRequests)
MAX_PRIORITY_SECONDS = 86400.0
# Moments kept as Unix seconds in Redis, shown as ISO 8601 like every time in the API.
MOMENTS = ("place", "next_at", "created_at")
ATTEMPT_MOMENTS = ("at", "next_at")


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


def _iso_moments(fields: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """``fields`` with the moments ``names`` (Unix seconds) as ISO 8601 UTC; 0 (unset) is None."""
    shown = dict(fields)
    for name in names:
        value = shown.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            shown[name] = iso(float(value)) if value else None
    return shown


def callback_json(request: CallbackRequest, now: float | None = None) -> dict[str, Any]:
    """One booking as the API shows it: its fields, times in ISO 8601, each attempt's
    too, and ``why_now``: why it stands where it does in line (or why not yet)."""
    body = _iso_moments(asdict(request), MOMENTS)
    body["history"] = [_iso_moments(attempt, ATTEMPT_MOMENTS) for attempt in request.history]
    body["value_seconds"] = request.value_seconds  # the rule's seconds earlier in line
    body["why_now"] = why_now(request, time.time() if now is None else now)
    return body


def why_now(request: CallbackRequest, now: float) -> str:
    """The order's reasons for one booking, in words: the line is served by place
    (when its caller joined or booked) less the value rule's seconds (``callbacks.value``:
    VIP, intent, each failed attempt) and an operator's priority, so the parts that
    moved it come first, then how long it has waited: "VIP +600 s, password_reset
    +120 s, 1 failed attempt +60 s (last: no_answer), waited 14 min; in line since ...".
    A booking whose ``next_at`` is ahead waits for it (a time picked, or the backoff
    after a failed attempt)."""
    if request.state == "dialling":
        return f"being dialled (attempt {request.attempts + 1})"
    if request.state != "pending":
        return f"{request.state}" + (f": {request.reason}" if request.reason else "")
    parts = request.value_reasons()
    if request.priority_seconds:
        parts.append(f"priority +{request.priority_seconds:g} s")
    parts.append(waited_text(now - request.place))
    reasons = [", ".join(parts), f"in line since {iso(request.place)}"]
    if request.apologise:
        reasons.append("the last call was cut off: an apology first")
    if request.next_at > now:
        reasons.append(f"not before {iso(request.next_at)}")
    return "; ".join(reasons)


async def list_callbacks(request: web.Request) -> web.Response:
    """``?state=pending|dialling|done|failed|cancelled`` narrows the list."""
    state = request.query.get("state")
    if state is not None and state not in STATES:
        raise _error(web.HTTPBadRequest, f"state must be one of {', '.join(STATES)}")
    requests = request.app[CALLBACKS]
    listing = await requests.listing()
    counts = dict.fromkeys(STATES, 0)
    for item in listing:
        counts[item.state] += 1
    now = time.time()
    shown = [callback_json(r, now) for r in listing if state is None or r.state == state]
    return web.json_response({"callbacks": shown, "counts": counts})


async def _body(request: web.Request) -> dict[str, Any]:
    body = await json_body(request, "a JSON object") if request.can_read_body else {}
    if not isinstance(body, dict):
        raise _error(web.HTTPBadRequest, "body must be a JSON object")
    return body


@requires(Role.OPERATOR, "callback.cancel")
async def cancel_callback(request: web.Request) -> web.Response:
    request_id = request.match_info["request_id"]
    body = await _body(request)
    reason = str(body.get("reason") or "cancelled through the API")[:200]
    requests = request.app[CALLBACKS]
    if await requests.get(request_id) is None:
        raise _error(web.HTTPNotFound, f"no callback {request_id!r}")
    if not await requests.cancel(request_id, reason):
        raise _error(web.HTTPConflict, f"callback {request_id} is no longer pending")
    return web.json_response({"id": request_id, "state": "cancelled", "reason": reason})


@requires(Role.OPERATOR, "callback.reprioritise")
async def reprioritise_callback(request: web.Request) -> web.Response:
    """Body ``{"priority_seconds": N}``: the request stands N seconds earlier in line
    (replacing the operator's seconds given before; the value rule's stay)."""
    request_id = request.match_info["request_id"]
    body = await _body(request)
    value = body.get("priority_seconds")
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= MAX_PRIORITY_SECONDS
    ):
        raise _error(
            web.HTTPBadRequest,
            f"priority_seconds must be a number from 0 to {MAX_PRIORITY_SECONDS:g}",
        )
    requests = request.app[CALLBACKS]
    if await requests.get(request_id) is None:
        raise _error(web.HTTPNotFound, f"no callback {request_id!r}")
    if not await requests.reprioritise(request_id, float(value)):
        raise _error(web.HTTPConflict, f"callback {request_id} is no longer pending")
    return web.json_response({"id": request_id, "priority_seconds": value})


def add_callback_routes(app: web.Application, requests: CallbackRequests) -> None:
    app[CALLBACKS] = requests
    app.router.add_get("/api/callbacks", list_callbacks)
    app.router.add_post("/api/callbacks/{request_id}/cancel", cancel_callback)
    app.router.add_post("/api/callbacks/{request_id}/priority", reprioritise_callback)
