"""One worker of a cluster runs the help desk's job at a time: a lease in a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any

import redis.asyncio as aioredis

from ivr.state.single_runner import SingleRunner


async def test_one_runner_holds_the_job_and_another_takes_it_when_it_stops(
    shared_redis_url: str,
) -> None:
    client = aioredis.Redis.from_url(shared_redis_url)
    prefix = f"ivrtest:{uuid.uuid4().hex[:8]}:"
    running: list[str] = []
    started = {"w1": asyncio.Event(), "w2": asyncio.Event()}

    def job(worker: str) -> Coroutine[Any, Any, None]:
        async def work() -> None:
            running.append(worker)
            started[worker].set()
            try:
                await asyncio.Event().wait()
            finally:
                running.remove(worker)

        return work()

    first = SingleRunner(client, prefix, "helpdesk", "w1", lease_seconds=0.6)
    second = SingleRunner(client, prefix, "helpdesk", "w2", lease_seconds=0.6)
    one = asyncio.create_task(first.run(lambda: job("w1")))
    await asyncio.wait_for(started["w1"].wait(), 5)
    two = asyncio.create_task(second.run(lambda: job("w2")))
    try:
        await asyncio.sleep(1.5)  # past two lease lengths: renewed, never shared
        assert running == ["w1"] and not second.holding
        one.cancel()  # the first worker stops: it gives the lease back
        await asyncio.gather(one, return_exceptions=True)
        await asyncio.wait_for(started["w2"].wait(), 5)
        assert running == ["w2"]
    finally:
        two.cancel()
        await asyncio.gather(two, return_exceptions=True)
        await client.aclose()
