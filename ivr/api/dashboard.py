"""The operations dashboard: a static page at ``/`` fed by server-sent events, and the
wallboard at ``/wallboard`` (large live queue figures for a shared screen) fed by the same.

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
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ivr.api.event_stream import ChangeStream, open_event_stream, pause
from ivr.api.internal import read_json
from ivr.api.tickets import bad_request, time_param

STATIC_DIR = Path(__file__).parent / "static"
CHECK_INTERVAL_SECONDS = 1.0
STATS_REFRESH_SECONDS = 5.0
DEFAULT_SPAN_SECONDS = 24 * 3600
EMPTY_CALLBACKS = {
    "callbacks": [],
    "counts": {"pending": 0, "dialling": 0, "done": 0, "failed": 0},
    "available": False,
}

# A little under the check interval, so each check sees a fresh read.
LIVE_MAX_AGE_SECONDS = 0.9 * CHECK_INTERVAL_SECONDS
SHARED_FOR_SECONDS = 60.0  # unused reads are dropped after this


class SharedReads:
    """Reads shared by the open streams: a value younger than ``max_age`` is reused,
    and concurrent readers of one key wait for one read."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[float, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, key: str, max_age: float, read: Callable[[], Awaitable[Any]]) -> Any:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            held = self._values.get(key)
            now = time.monotonic()
            if held is not None and now - held[0] < max_age:
                return held[1]
            value = await read()
            self._values[key] = (time.monotonic(), value)
            self._drop_older_than(now - SHARED_FOR_SECONDS)
            return value

    def _drop_older_than(self, moment: float) -> None:
        for key in [k for k, (at, _) in self._values.items() if at < moment]:
            lock = self._locks.get(key)
            if lock is not None and not lock.locked():
                del self._locks[key]
            del self._values[key]


STOPPING = web.AppKey("dashboard_stopping", asyncio.Event)
SHARED_READS = web.AppKey("dashboard_shared_reads", SharedReads)


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
    response = await open_event_stream(request)
    events = ChangeStream(response, "snapshot")
    shared = request.app[SHARED_READS]
    try:
        while not stopping.is_set():
            # Every viewer shows the same state: one read serves all of them.
            parts = await shared.get("live", LIVE_MAX_AGE_SECONDS, lambda: _live_parts(request))
            # The day's figures cost a query over the day's tickets: read them when
            # a call came or went (a new key), else every few seconds.
            stats_key = f"stats:{since}:{hash(tuple(_call_ids(parts)))}"
            stats = await shared.get(
                stats_key, STATS_REFRESH_SECONDS, lambda: _stats(request, since)
            )
            text = json.dumps({**parts, "stats": stats}, sort_keys=True)
            await events.offer(text)
            await pause(stopping, CHECK_INTERVAL_SECONDS)
    except (ConnectionResetError, ConnectionError):
        pass  # the viewer went away
    return response


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def wallboard(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "wallboard.html", headers={"Cache-Control": "no-cache"})


async def _stop_streams(app: web.Application) -> None:
    # Open streams would otherwise hold the HTTP server's shutdown for its full timeout.
    app[STOPPING].set()


def add_dashboard_routes(app: web.Application) -> None:
    """``/``, ``/wallboard``, ``/static/*``, ``/api/dashboard`` and its event stream."""
    app[STOPPING] = asyncio.Event()
    app[SHARED_READS] = SharedReads()
    app.on_shutdown.append(_stop_streams)
    app.router.add_get("/", index)
    app.router.add_get("/wallboard", wallboard)
    app.router.add_static("/static/", STATIC_DIR)
    app.router.add_get("/api/dashboard", get_snapshot)
    app.router.add_get("/api/dashboard/stream", stream)
