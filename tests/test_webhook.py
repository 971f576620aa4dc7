"""The ticket webhook: a real receiver on loopback that is down at first.

Calls go on normally while it is down; once it is up, every created and
closed message arrives exactly once, each ticket's in order, over SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from support.databases import DATABASES
from support.harness import free_port, wait_until
from support.sipp import run_sipp
from support.tickets import service_on


class Receiver:
    """An aiohttp server in its own thread; answers 503 to its first ``fail_first`` POSTs."""

    def __init__(self, port: int, fail_first: int) -> None:
        self.port = port
        self.fail_first = fail_first
        self.accepted: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.refused = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.refused < self.fail_first:
            self.refused += 1
            return web.Response(status=503)
        self.accepted.append(body)
        self.headers.append(dict(request.headers))
        return web.json_response({"ok": True})

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/tickets", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def events_of(self, ticket_id: int) -> list[str]:
        return [m["event"] for m in self.accepted if m["ticket"]["id"] == ticket_id]


@pytest.mark.parametrize("database", DATABASES)
def test_messages_wait_for_a_receiver_that_is_down_and_arrive_once_in_order(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    port = free_port()
    on = service_on(
        database,
        tmp_path / "service",
        request,
        env={
            "IVR_TICKETS_WEBHOOK_URL": f"http://127.0.0.1:{port}/hooks/tickets?token=s3cret",
            "IVR_TICKETS_WEBHOOK_MAX_BACKOFF": "0.3",
        },
    )
    service = on.service
    receiver = Receiver(port, fail_first=1)
    try:
        # Receiver down: the calls run and their tickets close as usual.
        calls = run_sipp(
            "menu_key1_rfc2833.xml", service.sip_uri_host, "7601", workdir=tmp_path / "a", calls=2
        )
        assert calls.returncode == 0, calls.output
        early = service.tickets_of("7601", 2)
        assert [t["disposition"] for t in early] == ["completed", "completed"]
        failure = f"webhook http://127.0.0.1:{port}/hooks/tickets: delivery"  # no query: token
        wait_until(lambda: failure in service.log_text(), 10, "a failed delivery in the log")
        assert receiver.accepted == []

        receiver.start()
        late = run_sipp(
            "menu_key1_rfc2833.xml", service.sip_uri_host, "7602", workdir=tmp_path / "b"
        )
        assert late.returncode == 0, late.output
        [last] = service.tickets_of("7602", 1)
        # Delivery is in write order: once the last call's messages are in, all are.
        wait_until(
            lambda: receiver.events_of(last["id"]) == ["ticket.created", "ticket.closed"],
            30,
            "the last call's messages",
        )
        for ticket in [*early, last]:
            assert receiver.events_of(ticket["id"]) == ["ticket.created", "ticket.closed"]
        assert len(receiver.accepted) == 6  # nothing twice
        assert receiver.refused == 1  # the 503 was retried, then accepted
        ids = [m["delivery_id"] for m in receiver.accepted]
        assert ids == sorted(set(ids))
        assert [h["X-Ivr-Delivery"] for h in receiver.headers] == [str(i) for i in ids]
        closed = [m for m in receiver.accepted if m["event"] == "ticket.closed"]
        assert all(m["ticket"]["disposition"] == "completed" for m in closed)
        created = [m for m in receiver.accepted if m["event"] == "ticket.created"]
        assert all(m["ticket"]["disposition"] == "live" for m in created)

        # An agent resolving the ticket is posted too.
        status, _ = service.api(f"/api/tickets/{last['id']}", "PATCH", {"work_status": "resolved"})
        assert status == 200
        wait_until(lambda: len(receiver.accepted) == 7, 10, "the resolved message")
        assert receiver.accepted[-1]["event"] == "ticket.resolved"
        assert receiver.accepted[-1]["ticket"]["work_status"] == "resolved"
        assert "s3cret" not in service.log_text()
    finally:
        service.stop()
        receiver.stop()


def test_webhook_settings_come_from_the_file_and_the_environment(tmp_path: Path) -> None:
    from ivr.config import load_config
    from ivr.exceptions import ConfigError

    path = tmp_path / "ivr.yaml"
    path.write_text("tickets:\n  webhook_url: https://hooks.example.com/t\n")
    config = load_config(path, env={})
    assert config.tickets.webhook_url == "https://hooks.example.com/t"
    assert config.tickets.webhook_max_backoff_seconds == 60.0
    config = load_config(path, env={"IVR_TICKETS_WEBHOOK_MAX_BACKOFF": "2.5"})
    assert config.tickets.webhook_max_backoff_seconds == 2.5
    assert load_config(Path(__file__).parents[1] / "ivr.yaml", env={}).tickets.webhook_url is None
    path.write_text("tickets:\n  webhook_url: hooks.example.com\n")
    with pytest.raises(ConfigError, match=r"tickets.webhook_url has value 'hooks.example.com'"):
        load_config(path, env={})
    with pytest.raises(ConfigError, match="IVR_TICKETS_WEBHOOK_TIMEOUT has value 'soon'"):
        load_config(None, env={"IVR_TICKETS_WEBHOOK_TIMEOUT": "soon"})
