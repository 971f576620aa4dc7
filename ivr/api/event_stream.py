"""Server-sent events: the response the dashboard's and the agent desk's streams open."""

from __future__ import annotations

from aiohttp import web


async def open_event_stream(request: web.Request) -> web.StreamResponse:
    """A prepared ``text/event-stream`` response that no proxy buffers or caches."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    return response
