"""Wakes waiting callers when an agent becomes available anywhere (Redis pub/sub)."""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ivr.state import keys

log = logging.getLogger(__name__)
RESUBSCRIBE_SECONDS = 2.0


class AgentWakeups:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._channel = keys.agent_events(prefix)
        self._changed = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        """Return at the next agent event or after ``timeout`` seconds, whichever first."""
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    def notify(self) -> None:
        self._changed.set()

    async def run(self) -> None:
        """Listen until cancelled; resubscribe after a Redis outage."""
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._changed.set()
            except (RedisError, OSError) as exc:
                log.warning("agent events unavailable (%s); retrying", exc)
                await asyncio.sleep(RESUBSCRIBE_SECONDS)
