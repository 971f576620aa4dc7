"""Server-sent events: the streams of the dashboard and of the agent desk."""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp import web

KEEP_ALIVE_SECONDS = 15.0  # idle streams get a comment line, or proxies drop them


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


class ChangeStream:
    """Sends ``event`` with a text only when the text changed since the last one sent,
    and a keep-alive comment when nothing went out for ``KEEP_ALIVE_SECONDS``."""

    def __init__(self, response: web.StreamResponse, event: str) -> None:
        self._response = response
        self._event = event
        self._last = ""
        self._written = time.monotonic()

    async def offer(self, text: str) -> None:
        """Raises ConnectionError when the viewer went away."""
        now = time.monotonic()
        if text != self._last:
            await self._response.write(f"event: {self._event}\ndata: {text}\n\n".encode())
            self._last, self._written = text, now
        elif now - self._written > KEEP_ALIVE_SECONDS:
            await self._response.write(b": keep-alive\n\n")
            self._written = now


async def pause(stopping: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less when the service starts stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
