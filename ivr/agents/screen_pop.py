"""Screen pop: who is calling and why, POSTed as JSON to the agents' desktop system.

Sent in the background, never holding up the call; a receiver that is down
costs one logged warning per attempt.
"""

from __future__ import annotations

import logging

import aiohttp

from ivr.tasks import OwnedTasks

log = logging.getLogger(__name__)
SEND_TIMEOUT_SECONDS = 3.0


class ScreenPop:
    def __init__(self, url: str | None) -> None:
        self._url = url
        self._tasks = OwnedTasks()
        self._session: aiohttp.ClientSession | None = None

    def send(self, body: dict[str, object]) -> None:
        if self._url is not None:
            self._tasks.start(self._post(self._url, body), "screen-pop")

    async def _post(self, url: str, body: dict[str, object]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT_SECONDS)
            )
        try:
            async with self._session.post(url, json=body) as response:
                if response.status >= 300:
                    log.warning("screen pop to %s answered %d", url, response.status)
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("screen pop to %s failed: %s", url, exc)

    async def close(self) -> None:
        await self._tasks.cancel_all()
        if self._session is not None:
            await self._session.close()
