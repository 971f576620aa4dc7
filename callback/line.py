"""One ordered line per queue in Redis, shared by every worker and node.

An entry's score is its place: the time its caller first joined. Live callers
join with the time they arrived; a callback request will keep the score its
caller had, so it is served neither ahead of earlier callers nor behind later
ones. Entries being connected to an agent stay in the line (a ring-no-answer
puts them back where they were) but are marked as connecting; callback requests
that may not be dialled now (their number is on a call) stay too, marked as held.
Neither counts as waiting ahead of the entries behind them.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from callback import keys

ARRIVAL_WINDOW_SECONDS = 900.0


class QueueLine:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def keys_for(self, queue: str) -> tuple[str, str, str]:
        """(line, connecting, held) keys, for scripts that claim agents atomically."""
        return (
            keys.line(self._prefix, queue),
            keys.connecting(self._prefix, queue),
            keys.held(self._prefix, queue),
        )

    async def join(self, queue: str, entry: str, place: float) -> None:
        """Put ``entry`` in line at ``place`` (seconds; earlier is served first)."""
        now = time.time()
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.line(self._prefix, queue), {entry: place})
            pipe.zadd(keys.arrivals(self._prefix, queue), {f"{entry}:{now}": now})
            pipe.zremrangebyscore(
                keys.arrivals(self._prefix, queue), 0, now - ARRIVAL_WINDOW_SECONDS
            )
            await pipe.execute()

    async def leave(self, queue: str, entry: str) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.line(self._prefix, queue), entry)
            pipe.srem(keys.connecting(self._prefix, queue), entry)
            await pipe.execute()

    async def not_connecting(self, queue: str, entry: str) -> None:
        """A connection attempt failed: the entry waits again at its old place."""
        await self._client.srem(keys.connecting(self._prefix, queue), entry)

    async def position(self, queue: str, entry: str) -> int | None:
        """0 for the head of the line; None when the entry is not in it."""
        rank = await self._client.zrank(keys.line(self._prefix, queue), entry)
        return rank if isinstance(rank, int) else None

    async def length(self, queue: str) -> int:
        """Callers waiting: those in line less those being connected to an agent
        (they keep their place in line until connected, in case the agent misses)."""
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.zcard(keys.line(self._prefix, queue))
            pipe.scard(keys.connecting(self._prefix, queue))
            in_line, connecting = await pipe.execute()
        return max(0, int(in_line) - int(connecting))

    async def longest_wait(self, queue: str) -> float:
        head = await self._client.zrange(keys.line(self._prefix, queue), 0, 0, withscores=True)
        return max(0.0, time.time() - float(head[0][1])) if head else 0.0

    async def arrivals_per_second(self, queue: str) -> float:
        now = time.time()
        count = await self._client.zcount(
            keys.arrivals(self._prefix, queue), now - ARRIVAL_WINDOW_SECONDS, now
        )
        return int(count) / ARRIVAL_WINDOW_SECONDS

    async def record_handled(self, queue: str, seconds: float, default: float) -> None:
        """Fold one answered call's handling time into the queue's running average."""
        key = keys.handled(self._prefix, queue)
        average = await self.average_handle_seconds(queue, default)
        # An exponential average follows the day's mix without storing every call.
        await self._client.hset(key, "average", str(0.9 * average + 0.1 * seconds))

    async def average_handle_seconds(self, queue: str, default: float) -> float:
        value = await self._client.hget(keys.handled(self._prefix, queue), "average")
        return float(value) if value else default
