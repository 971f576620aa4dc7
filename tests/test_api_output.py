"""What the API shows, on a real service: the open health answer holds what a probe
needs and no file paths; every moment is ISO 8601 with its time zone."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import redis.asyncio as aioredis
from support.harness import REPO
from support.service import RunningService, start_service

from callback.requests import CallbackRequests

CONFIG = """\
agents:
  - {id: a1, uri: "sip:6001@127.0.0.1", queues: [desk]}
queues:
  desk: {}
callbacks:
  dispatcher: false
"""


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"ivrtest:{uuid.uuid4().hex[:8]}:"


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, shared_redis_url: str, prefix: str
) -> Iterator[RunningService]:
    running = start_service(
        tmp_path_factory.mktemp("api-output"),
        config_text=CONFIG,
        env={"REDIS_URL": shared_redis_url, "IVR_REDIS_KEY_PREFIX": prefix},
    )
    yield running
    running.stop()


def moment(value: Any, what: str) -> float:
    """``value`` as Unix seconds, insisting it is ISO 8601 with a time zone."""
    assert isinstance(value, str), f"{what} is {value!r}, not ISO 8601 text"
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"{what} {value!r} has no time zone"
    return parsed.timestamp()


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def test_health_tells_a_probe_its_status_without_file_paths(service: RunningService) -> None:
    status, body = service.api("/api/health", token=None)
    assert status == 200
    assert (body["status"], body["degraded"]) == ("ok", [])
    assert [p["name"] for p in body["plans"]] == ["default", "it-helpdesk.en", "it-helpdesk.zh"]
    assert all(set(p) == {"name", "version"} for p in body["plans"])
    assert body["plan_files_refused"] == 0
    shown = list(strings_in(body))
    leaked = [s for s in shown if ".yaml" in s or str(REPO) in s or str(service.workdir) in s]
    assert not leaked, leaked
    moment(body["started_at"], "started_at")


def test_an_agents_since_is_iso_8601(service: RunningService) -> None:
    before = time.time()
    assert service.api("/api/agents/a1/state", "POST", {"state": "available"})[0] == 200
    [agent] = service.api("/api/agents")[1]["agents"]
    assert before - 1 <= moment(agent["since"], "since") <= time.time() + 1
    [snapshot_agent] = service.api("/api/dashboard")[1]["agents"]
    assert snapshot_agent["since"] == agent["since"]


async def test_a_callbacks_moments_and_its_attempts_are_iso_8601(
    service: RunningService, shared_redis_url: str, prefix: str
) -> None:
    client = aioredis.Redis.from_url(shared_redis_url, decode_responses=True)
    requests = CallbackRequests(client, prefix)
    place = time.time() - 60
    try:
        request_id = await requests.request("8001", "desk", place)
        lease = await requests.take(request_id, "test-dispatcher", 30)
        assert lease is not None
        retry_at = time.time() + 600
        record = {"attempt": 1, "outcome": "no_answer", "next_at": retry_at}
        assert await requests.finish_attempt(lease, "pending", record, retry_at)
    finally:
        await client.aclose()

    [booking] = service.api("/api/callbacks")[1]["callbacks"]
    assert abs(moment(booking["place"], "place") - place) < 0.01
    assert abs(moment(booking["next_at"], "next_at") - retry_at) < 0.01
    assert abs(moment(booking["created_at"], "created_at") - time.time()) < 30
    [attempt] = booking["history"]
    assert abs(moment(attempt["at"], "the attempt's at") - time.time()) < 30
    assert abs(moment(attempt["next_at"], "the attempt's next_at") - retry_at) < 0.01
    [shown] = service.api("/api/dashboard")[1]["callbacks"]["callbacks"]
    assert shown == booking
