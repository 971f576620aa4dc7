"""The operations dashboard: a static page at ``/`` fed by server-sent events.

``GET /api/dashboard`` is one snapshot (live calls, queues, agents, callbacks,
today's figures); ``GET /api/dashboard/stream`` sends a snapshot as an
``event: snapshot`` whenever it changes (checked every second; today's
figures every 5 s, and at once when a call comes or goes), with a
comment line every 15 s so proxies keep the connection. Both take
``from`` (Unix seconds or ISO 8601): the start of "today" in the viewer's
time zone, which the page sends; the default is the last 24 h.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ivr.api.internal import read_json
from ivr.api.tickets import bad_request, time_param

STATIC_DIR = Path(__file__).parent / "static"
CHECK_INTERVAL_SECONDS = 1.0
KEEP_ALIVE_SECONDS = 15.0
STATS_REFRESH_SECONDS = 5.0
DEFAULT_SPAN_SECONDS = 24 * 3600
EMPTY_CALLBACKS = {
    "callbacks": [],
    "counts": {"pending": 0, "dialling": 0, "done": 0, "failed": 0},
    "available": False,
}

STOPPING = web.AppKey("dashboard_stopping", asyncio.Event)


def _since(request: web.Request) -> float:
    unknown = sorted(set(request.query) - {"from"})
    if unknown:
        raise bad_request(f"unknown parameter {unknown[0]!r} (known: from)")
    since = time_param(request.query, "from")
    now = time.time()
    if since is None:
        return now - DEFAULT_SPAN_SECONDS
    return min(since, now)  # a viewer's clock a little ahead is not an error


async def _live_parts(request: web.Request) -> dict[str, Any]:
    calls = await read_json(request, "/api/calls")
    queues = await read_json(request, "/api/queues")
    agents = await read_json(request, "/api/agents")
    callbacks = await read_json(request, "/api/callbacks")
    return {
        "calls": calls,
        "queues": None if queues is None else queues.get("queues"),
        "agents": None if agents is None else agents.get("agents"),
        "callbacks": EMPTY_CALLBACKS if callbacks is None else {**callbacks, "available": True},
    }


async def _stats(request: web.Request, since: float) -> Any:
    return await read_json(request, "/api/stats?" + urlencode({"from": f"{since:.3f}"}))


def _call_ids(parts: dict[str, Any]) -> list[str]:
    calls = parts["calls"]
    return [] if calls is None else [str(c.get("call_id")) for c in calls.get("calls", [])]


async def snapshot(request: web.Request, since: float) -> dict[str, Any]:
    """Everything the page shows, read from the API's own endpoints; a part that is
    unavailable is ``null`` (callbacks: zeros with ``available: false``)."""
    return {**await _live_parts(request), "stats": await _stats(request, since)}


async def get_snapshot(request: web.Request) -> web.Response:
    return web.json_response(await snapshot(request, _since(request)))


async def stream(request: web.Request) -> web.StreamResponse:
    since = _since(request)
    stopping = request.app[STOPPING]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    last = ""
    last_write = time.monotonic()
    stats: Any = None
    stats_read_at = -math.inf
    call_ids: list[str] | None = None
    try:
        while not stopping.is_set():
            parts = await _live_parts(request)
            # The day's figures cost a query over the day's tickets: read them when
            # a call came or went, else every few seconds.
            if (
                _call_ids(parts) != call_ids
                or time.monotonic() - stats_read_at >= STATS_REFRESH_SECONDS
            ):
                stats = await _stats(request, since)
                stats_read_at, call_ids = time.monotonic(), _call_ids(parts)
            text = json.dumps({**parts, "stats": stats}, sort_keys=True)
            if text != last:
                await response.write(f"event: snapshot\ndata: {text}\n\n".encode())
                last, last_write = text, time.monotonic()
            elif time.monotonic() - last_write > KEEP_ALIVE_SECONDS:
                await response.write(b": keep-alive\n\n")
                last_write = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), CHECK_INTERVAL_SECONDS)
    except (ConnectionResetError, ConnectionError):
        pass  # the viewer went away
    return response


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def _stop_streams(app: web.Application) -> None:
    # Open streams would otherwise hold the HTTP server's shutdown for its full timeout.
    app[STOPPING].set()


def add_dashboard_routes(app: web.Application) -> None:
    """``/``, ``/static/*``, ``/api/dashboard`` and its event stream."""
    app[STOPPING] = asyncio.Event()
    app.on_shutdown.append(_stop_streams)
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR)
    app.router.add_get("/api/dashboard", get_snapshot)
    app.router.add_get("/api/dashboard/stream", stream)
