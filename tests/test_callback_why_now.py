"""Each callback says why it stands where it does in line (``why_now``), on a real Redis:
the value rule's parts that moved it (VIP, intent, failed attempts), an operator's
priority, and how long it has waited."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callback import keys
from callback.requests import CallbackRequests
from callback.value import BookedValue
from ivr.api.callbacks import add_callback_routes, why_now

PLACE = 1_900_000_000.0  # when the first caller joined the line (a fixed clock)
QUEUE = "helpdesk"


@pytest.fixture
async def client(shared_redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(shared_redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"ivrtest:why-now:{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def requests(client: aioredis.Redis, prefix: str) -> CallbackRequests:
    return CallbackRequests(client, prefix)


async def test_why_now_names_the_rule_s_parts_the_priority_the_wait_and_a_time_picked(
    requests: CallbackRequests, client: aioredis.Redis, prefix: str
) -> None:
    vip = await requests.request(
        "5550111", QUEUE, PLACE, intent="password_reset", value=BookedValue(600, 120, 60)
    )
    await requests.reprioritise(vip, 300)
    lease = await requests.take(vip, "dispatcher-1", 30)
    assert lease is not None
    failed = {"attempt": 1, "outcome": "no_answer"}
    assert await requests.finish_attempt(lease, "pending", failed, time.time(), 60)
    later = await requests.request("5550122", QUEUE, PLACE + 60, not_before=PLACE + 7200)
    first, second = await requests.get(vip), await requests.get(later)
    assert first is not None and second is not None

    now = PLACE + 14 * 60
    assert why_now(first, now) == (
        "VIP +600 s, password_reset +120 s, 1 failed attempt +60 s (last: no_answer), "
        "priority +300 s, waited 14 min; in line since 2030-03-17T17:46:40.000Z"
    )
    assert why_now(second, now) == (
        "waited 13 min; in line since 2030-03-17T17:47:40.000Z; not before 2030-03-17T19:46:40.000Z"
    )
    # The line's order is what why_now explains: place less every part.
    line = keys.line(prefix, QUEUE)
    assert await client.zscore(line, first.entry) == PLACE - 600 - 120 - 60 - 300
    assert first.standing == PLACE - 1080
    assert await client.zscore(line, second.entry) == PLACE + 60

    app = web.Application()
    add_callback_routes(app, requests)
    async with TestClient(TestServer(app)) as http:
        listed = await (await http.get("/api/callbacks")).json()
    shown = {c["id"]: c for c in listed["callbacks"]}
    assert shown[vip]["why_now"].startswith("VIP +600 s, password_reset +120 s, ")
    assert shown[vip]["value"] == {
        "vip_seconds": 600.0,
        "intent_seconds": 120.0,
        "per_failed_attempt_seconds": 60.0,
    }
    assert shown[vip]["value_seconds"] == 780.0
    assert shown[later]["why_now"].startswith("waited ")
