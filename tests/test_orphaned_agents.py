"""Agents held by a call whose worker or dispatcher died are freed, against a real Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from callback.requests import CallbackRequests
from ivr.agents.board import AgentBoard, AgentState
from ivr.agents.orphans import GRACE_SECONDS, OrphanedAgents
from ivr.agents.settings import AgentSettings
from ivr.state import keys

AGENTS = tuple(AgentSettings(f"a{n}", f"Agent {n}", f"sip:600{n}@pbx", ("q",)) for n in range(5))


@pytest.fixture
async def client(shared_redis_url: str) -> AsyncIterator[aioredis.Redis]:
    connection = aioredis.from_url(shared_redis_url, decode_responses=True)
    yield connection
    await connection.aclose()


async def test_only_agents_whose_call_is_gone_are_freed_after_two_looks(
    client: aioredis.Redis,
) -> None:
    prefix = f"ivrtest:orphans:{uuid.uuid4().hex[:8]}:"
    board = AgentBoard(client, prefix, AGENTS)
    requests = CallbackRequests(client, prefix)
    orphans = OrphanedAgents(board, requests, client, prefix)
    long_ago = time.time() - GRACE_SECONDS - 5
    live_call, dead_call = "call-live", "call-of-a-killed-worker"
    await client.zadd(keys.live_calls_index(prefix), {live_call: long_ago})
    dialling = await requests.request("13800000001", "q", long_ago)
    assert await requests.take(dialling, "dispatcher-1", 60)
    holds = {"a0": live_call, "a1": dead_call, "a2": f"cb:{dialling}", "a3": dead_call}
    holds["a4"] = f"consult:{live_call}"  # a second-line agent consulted for the live caller
    try:
        for agent_id, call in holds.items():
            await client.hset(
                keys.agent(prefix, agent_id),
                mapping={"state": "on_call", "since": repr(long_ago), "call": call},
            )
        await client.hset(keys.agent(prefix, "a3"), "since", repr(time.time()))  # just claimed

        assert await orphans.release() == [], "one look is not enough"
        assert await orphans.release() == ["a1"]

        views = {v.id: v for v in await board.views()}
        assert views["a1"].state is AgentState.AVAILABLE and "worker was lost" in views["a1"].reason
        assert views["a0"].state is AgentState.ON_CALL, "its caller is still live"
        assert views["a2"].state is AgentState.ON_CALL, "its callback is still being dialled"
        assert views["a3"].state is AgentState.ON_CALL, "too recent to judge"
        assert views["a4"].state is AgentState.ON_CALL, "the consultation's caller is live"

        await requests.cancel(dialling, "its dispatcher was killed")  # the lease gone, say
        await orphans.release()
        assert await orphans.release() == ["a2"]
        assert not await board.release("a1", dead_call, "again"), "a freed agent stays free"
    finally:
        for key in await client.keys(prefix + "*"):
            await client.delete(key)
