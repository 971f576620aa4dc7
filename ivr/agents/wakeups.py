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
        self._generation = 0
        self._changed = asyncio.Event()

    def token(self) -> int:
        """Take before looking at the queues; pass to :meth:`wait` so an event that
        came while looking is not missed."""
        return self._generation

    async def wait(self, timeout: float, since: int | None = None) -> None:
        """Return at the next agent event (or at once if one came after ``since``),
        or after ``timeout`` seconds, whichever first."""
        if since is not None and since != self._generation:
            return
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    def notify(self) -> None:
        self._generation += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def run(self) -> None:
        """Listen until cancelled; resubscribe after a Redis outage."""
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    while True:
                        # A read with its own timeout: a blocking listen() hits the
                        # client's socket timeout when idle, and messages published
                        # while redis-py reconnects are lost.
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message is not None and message.get("type") == "message":
                            self.notify()
            except (RedisError, OSError) as exc:
                log.warning("agent events unavailable (%s); retrying", exc)
                await asyncio.sleep(RESUBSCRIBE_SECONDS)
