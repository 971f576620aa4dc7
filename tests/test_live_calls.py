"""The live-call registry against a real Redis: what Redis loses comes back within a
refresh, and a refresh writes nothing for calls Redis still holds."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from ivr.state import keys
from ivr.state.live_calls import ENTRY_TTL_SECONDS, LiveCall, LiveCallRegistry


@pytest.fixture
async def client(shared_redis_url: str) -> AsyncIterator[aioredis.Redis]:
    connection = aioredis.from_url(shared_redis_url, decode_responses=True)
    yield connection
    await connection.aclose()


def _call(call_id: str) -> LiveCall:
    return LiveCall(call_id, "w1", 7, "1001", "4357", "default", time.time())


async def test_calls_redis_lost_are_stored_again_by_the_refresh(client: aioredis.Redis) -> None:
    prefix = f"ivrtest:live:{uuid.uuid4().hex[:8]}:"
    registry = LiveCallRegistry(client, prefix, "w1")
    await registry.add(_call("kept"))
    await registry.add(_call("lost"))
    await registry.update_node("lost", "main_menu")
    # Redis restarted without persistence for one call's keys; an operator (say)
    # changed a field of the other, which a refresh must leave alone.
    await client.delete(keys.live_call(prefix, "lost"))
    await client.zrem(keys.live_calls_index(prefix), "lost")
    await client.hset(keys.live_call(prefix, "kept"), "plan", "left alone")

    await registry.refresh()

    calls, complete = await registry.list_all()
    assert complete
    by_id = {call["call_id"]: call for call in calls}
    assert set(by_id) == {"kept", "lost"}
    assert by_id["lost"]["node"] == "main_menu" and by_id["lost"]["ticket_id"] == 7
    assert by_id["kept"]["plan"] == "left alone"
    assert 0 < await client.ttl(keys.live_call(prefix, "lost")) <= ENTRY_TTL_SECONDS
    assert await client.sismember(keys.live_call_workers(prefix), "w1")

    await registry.remove("kept")
    await registry.remove("lost")
    assert await registry.list_all() == ([], True)
    assert await client.exists(keys.live_call(prefix, "lost")) == 0


async def test_a_node_change_keeps_the_entry_expiring(client: aioredis.Redis) -> None:
    prefix = f"ivrtest:live:{uuid.uuid4().hex[:8]}:"
    registry = LiveCallRegistry(client, prefix, "w1")
    await registry.add(_call("c1"))
    await client.delete(keys.live_call(prefix, "c1"))  # lost between two refreshes

    await registry.update_node("c1", "survey")

    assert await client.hget(keys.live_call(prefix, "c1"), "node") == "survey"
    assert 0 < await client.ttl(keys.live_call(prefix, "c1")) <= ENTRY_TTL_SECONDS
    await registry.remove("c1")
