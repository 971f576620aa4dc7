"""The service's Redis client under more concurrent commands than it has connections."""

from __future__ import annotations

import asyncio
import uuid

from ivr.state.sentinel import MAX_CONNECTIONS, redis_client


def test_commands_beyond_the_connection_limit_wait_for_a_free_connection(
    shared_redis_url: str,
) -> None:
    # Hundreds of calls ending together each write their state at once; with
    # redis-py's default pool the 101st concurrent command failed outright.
    prefix = f"ivrtest:{uuid.uuid4().hex[:8]}:pool:"
    concurrent = MAX_CONNECTIONS * 5

    async def run() -> tuple[list[str | None], int]:
        client = redis_client(shared_redis_url, timeout=5.0)
        try:

            async def write_and_read(index: int) -> str | None:
                key = f"{prefix}{index}"
                await client.set(key, str(index), ex=30)
                value: str | None = await client.get(key)
                return value

            values = await asyncio.gather(*(write_and_read(i) for i in range(concurrent)))
            pool = client.connection_pool
            opened = len(pool._available_connections) + len(pool._in_use_connections)  # type: ignore[attr-defined]
            return list(values), opened
        finally:
            await client.aclose()

    values, opened = asyncio.run(run())
    assert values == [str(i) for i in range(concurrent)]
    assert opened <= MAX_CONNECTIONS
