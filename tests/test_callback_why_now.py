"""Each callback says why it stands where it does in line (``why_now``), on a real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callback.requests import CallbackRequests
from ivr.api.callbacks import add_callback_routes, why_now

PLACE = 1_900_000_000.0  # when the first caller joined the line (a fixed clock)


@pytest.fixture
async def requests(shared_redis_url: str) -> AsyncIterator[CallbackRequests]:
    client = aioredis.from_url(shared_redis_url, decode_responses=True)
    yield CallbackRequests(client, f"ivrtest:why-now:{uuid.uuid4().hex[:8]}:")
    await client.aclose()


async def test_why_now_names_the_wait_the_priority_and_a_time_picked(
    requests: CallbackRequests,
) -> None:
    vip = await requests.request("5550111", "helpdesk", PLACE, intent="password_reset")
    await requests.reprioritise(vip, 300)
    later = await requests.request("5550122", "helpdesk", PLACE + 60, not_before=PLACE + 7200)
    first, second = await requests.get(vip), await requests.get(later)
    assert first is not None and second is not None

    now = PLACE + 14 * 60
    assert why_now(first, now) == (
        "in line since 2030-03-17T17:46:40.000Z; "
        "300 s earlier by priority (VIP, intent)"
    )
    assert why_now(second, now).endswith("; not before 2030-03-17T19:46:40.000Z")

    app = web.Application()
    add_callback_routes(app, requests)
    async with TestClient(TestServer(app)) as client:
        listed = await (await client.get("/api/callbacks")).json()
    assert [c["why_now"][:13] for c in listed["callbacks"]] == ["in line since"] * 2
