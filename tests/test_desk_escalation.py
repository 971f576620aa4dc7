"""Escalation, the wrap-up timer and "my callbacks" on the agent desk, in headless
Chromium with real calls: agent a1 (helpdesk) hands a connected caller to the second
line (queue second-line, agent v1) blind, and v1's desk pops the same ticket marked
escalated by a1; a1's desk counts the queue's wrap-up down and a1 is available when it
ends; an extension outside the dialling policy is refused; attended, a1 talks to v1
while the caller holds, then completes: caller and v1 talk (their tones cross), a1 is
released; a booking of a1's queue is on a1's "my callbacks"."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from peers.chromium import Browser
from peers.kamailio import Kamailio
from support.agent_desk import (
    CALLER,
    OTHER_CALLER,
    PHASE,
    STATE,
    desk_service,
    sign_in,
    text_of,
)
from support.audio import read_mono, tone_share
from support.harness import ARTIFACTS
from support.phones import CALLER_TONE_HZ, Phone, agent_phone, caller_phone, set_state
from support.service import RunningService, api_token_item, machine_redis_url
from support.sipp import finish_sipp, start_sipp

from callback.requests import CallbackRequests

BOOKED = "5550188"  # a booked callback of helpdesk
A1_TOKEN = "escalation_agent_a1_token"
V1_TOKEN = "escalation_agent_v1_token"
A1_TONE_HZ = 900
V1_TONE_HZ = 700
PREFIX = f"ivrtest:{uuid.uuid4().hex[:8]}:"
CENTER = """agents:
  - {id: a1, name: Alice Wang, extension: "6101", queues: [helpdesk]}
  - {id: v1, name: Victor Chen, extension: "6201", queues: [second-line]}
queues:
  helpdesk: {wrap_up_seconds: 4, whisper: false, dispositions: [password_reset, other]}
  second-line: {wrap_up_seconds: 1, whisper: false}
callbacks: {dispatcher: false}
"""


@pytest.fixture(scope="module")
def service(pbx: Kamailio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    if machine_redis_url() is None:
        pytest.skip("needs the machine's Redis to book a callback beside the service")
    tokens = [
        api_token_item("agent-a1", "agent", A1_TOKEN, "a1"),
        api_token_item("agent-v1", "agent", V1_TOKEN, "v1"),
    ]
    with desk_service(
        tmp_path_factory.mktemp("escalation"),
        pbx.port,
        CENTER,
        extensions=r"6[12]\d\d",
        tokens=tokens,
        env={"IVR_REDIS_KEY_PREFIX": PREFIX},
    ) as running:
        yield running


async def book_callback() -> None:
    url = machine_redis_url()
    assert url is not None
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        requests = CallbackRequests(client, PREFIX)
        # Due in an hour, standing behind the live callers of the test.
        later = time.time() + 3600
        await requests.request(BOOKED, "helpdesk", later, not_before=later, caller_name="Ma Lin")
    finally:
        await client.aclose()


async def escalate(page: Browser, mode: str, queue: str = "", extension: str = "") -> None:
    await page.evaluate(
        f"document.getElementById('escalate-queue').value = {json.dumps(queue)};"
        f"document.getElementById('escalate-extension').value = {json.dumps(extension)}"
    )
    await page.click(f"#escalate button[data-mode='{mode}']")


async def blind_session(service: RunningService, a1: Phone, v1: Phone, work: Path) -> Any:
    seen: dict[str, Any] = {}
    async with Browser(lang="en-US") as page:
        await page.goto(f"http://127.0.0.1:{service.http_port}/agent")
        await sign_in(page, A1_TOKEN)
        await page.click("#state-buttons button[data-state='available']")
        await page.wait_for(f"{STATE} === 'available'", 10, "a1 available")
        await asyncio.to_thread(set_state, service, "v1", "available")

        # My callbacks: a booking of a1's queue, due in an hour.
        await book_callback()
        await page.wait_for(
            "!!document.querySelector('#callbacks tbody tr')", 10, "the booking on my callbacks"
        )
        seen["callbacks"] = await page.evaluate(
            "Array.from(document.querySelectorAll('#callbacks tbody tr'))"
            ".map(r => Array.from(r.cells).map(c => c.textContent))"
        )

        sipp = start_sipp(
            "desk_caller.xml", service.sip_uri_host, CALLER, workdir=work / "call", timeout=120
        )
        await page.wait_for(
            f"{PHASE} === 'connected' && !document.getElementById('escalation').hidden",
            40,
            "the connected call with the escalation form",
        )
        seen["a1_ticket"] = await page.evaluate(text_of("call-ticket"))
        seen["queues_offered"] = await page.evaluate(
            "Array.from(document.querySelectorAll('#escalate-queue option')).map(o => o.value)"
        )
        # An extension the dialling policy does not allow is refused before anything moves.
        await escalate(page, "blind", extension="0099")
        await page.wait_for(
            "document.getElementById('escalate-error').textContent", 10, "the refusal"
        )
        seen["refused"] = await page.evaluate(text_of("escalate-error"))

        await escalate(page, "blind", queue="second-line")
        await asyncio.to_thread(a1.wait_for, "ended", 20)
        await page.wait_for(
            f"{PHASE} === 'ended' && !document.getElementById('wrap-up-timer').hidden",
            10,
            "the call handed on and the wrap-up counting down",
        )
        seen["after_blind"] = await page.evaluate(
            text_of("escalation-status", "wrap-up-left", "escalate-error")
        )
        seen["left_first"] = await page.evaluate(
            "document.getElementById('wrap-up-left').textContent"
        )
        await page.screenshot(ARTIFACTS / "agent-desk-wrap-up-timer.png")
        ended_at = time.monotonic()
        await page.wait_for(f"{STATE} === 'available'", 10, "a1 available after the wrap-up")
        seen["wrap_up_took"] = time.monotonic() - ended_at
        seen["timer_hidden"] = await page.evaluate(
            "document.getElementById('wrap-up-timer').hidden"
        )

        # The second line's desk: the same ticket, escalated by a1.
        await asyncio.to_thread(v1.wait_for, "answered", 30)
        await page.click("#logout")
        await sign_in(page, V1_TOKEN)
        await page.wait_for(
            "!document.getElementById('call-escalated').hidden", 10, "the escalated call on v1"
        )
        seen["v1"] = await page.evaluate(
            text_of("call-escalated", "call-ticket", "caller-name", "call-queue", "ivr-keys")
        )
        seen["v1_by"] = await page.evaluate("document.getElementById('call-escalated').dataset.by")
        await page.screenshot(ARTIFACTS / "agent-desk-escalated.png")
        seen["console"] = page.console
    seen["sipp"] = await asyncio.to_thread(finish_sipp, sipp, work / "call", 60)
    return seen


def test_a_blind_escalation_reaches_the_second_line_with_the_ticket_and_the_wrap_up_counts_down(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    a1 = agent_phone(pbx, "6101", tmp_path, answer_after=0.3, tone_hz=A1_TONE_HZ)
    v1 = agent_phone(pbx, "6201", tmp_path, answer_after=0.3, talk_seconds=3)
    try:
        seen = asyncio.run(blind_session(service, a1, v1, tmp_path))
    finally:
        a1.stop()
        v1.stop()

    [booking] = seen["callbacks"]
    assert booking[0] == "helpdesk" and booking[2] == "Ma Lin", booking
    assert booking[3] == "*****88" and booking[5] == "0" and booking[6] == "waiting", booking
    assert seen["queues_offered"] == ["", "second-line"]
    assert "refused by the dialling policy" in seen["refused"]["escalate-error"], seen["refused"]
    assert seen["after_blind"]["escalation-status"] == "Transferred to second-line"
    assert seen["after_blind"]["escalate-error"] == ""
    assert seen["left_first"] in ("4s", "3s"), seen["left_first"]
    assert 1.5 < seen["wrap_up_took"] < 6, seen["wrap_up_took"]
    assert seen["timer_hidden"] is True
    ticket_id = int(seen["a1_ticket"]["call-ticket"])
    assert seen["v1"]["call-ticket"] == str(ticket_id)
    assert seen["v1"]["call-escalated"].startswith(
        "Escalated by Alice Wang (a1) from helpdesk · blind · "
    ), seen["v1"]
    assert (seen["v1"]["caller-name"], seen["v1"]["call-queue"]) == ("Li Wei", "second-line")
    assert seen["v1"]["ivr-keys"] == "1" and seen["v1_by"] == "a1"
    assert seen["sipp"].returncode == 0, seen["sipp"].errors
    assert not [line for line in seen["console"] if "exception" in line], seen["console"]

    [ticket] = service.tickets_of(CALLER, 1)
    _, detail = service.api(f"/api/tickets/{ticket['id']}")
    assert ticket["id"] == ticket_id
    assert (detail["queue"], detail["agent_id"]) == ("second-line", "v1")
    steps = [
        (e["kind"], e.get("agent"), e.get("mode"), e.get("phase"), e.get("queue"))
        for e in detail["events"]
        if e["kind"] in ("escalation", "agent_connected", "agent_call_ended")
    ]
    assert steps == [
        ("agent_connected", "a1", None, None, None),
        ("escalation", "a1", "blind", "transferred", "second-line"),
        ("agent_call_ended", "a1", None, None, None),
        ("agent_connected", "v1", None, None, None),
        ("agent_call_ended", "v1", None, None, None),
    ], steps
    _, audit = service.api("/api/audit?action=desk.escalate")
    rows = sorted((r["actor"], r["outcome"], r["detail"]["status"]) for r in audit["entries"])
    assert rows == [("agent-a1", "failed", 403), ("agent-a1", "ok", 200)], audit["entries"]


CONSULTING = "document.getElementById('escalation-status').dataset.state === 'consulting'"


def second_end(phone: Phone) -> dict[str, Any]:
    """The phone's second call's end (its first was the cancelled consultation)."""
    deadline = time.monotonic() + 30
    while len(phone.of_kind("ended")) < 2:
        assert time.monotonic() < deadline, phone.events
        time.sleep(0.1)
    return phone.of_kind("ended")[1]


async def attended_session(service: RunningService, a1: Phone, v1: Phone, work: Path) -> Any:
    seen: dict[str, Any] = {}
    async with Browser(lang="en-US") as page:
        await page.goto(f"http://127.0.0.1:{service.http_port}/agent")
        await sign_in(page, A1_TOKEN)
        await page.click("#state-buttons button[data-state='available']")
        await page.wait_for(f"{STATE} === 'available'", 10, "a1 available")
        await asyncio.to_thread(set_state, service, "v1", "available")
        caller = caller_phone(
            service, "4357", work, OTHER_CALLER, dtmf={"digits": "1", "after": 3}, timeout=90
        )
        try:
            await page.wait_for(
                f"{PHASE} === 'connected' && !document.getElementById('escalation').hidden",
                40,
                "the connected call",
            )
            seen["ticket"] = await page.evaluate(text_of("call-ticket"))
            await asyncio.sleep(1.5)  # a1 and the caller talk
            # A first consultation, cancelled: v1 is hung up, a1 is back with the caller.
            await escalate(page, "attended", queue="second-line")
            await page.wait_for(CONSULTING, 30, "a1 talking to the second line")
            await page.click("#escalate-cancel")
            await asyncio.to_thread(v1.wait_for, "ended", 20)
            await page.wait_for(
                "document.getElementById('escalation-status').dataset.state === 'cancelled'"
                " && !document.getElementById('escalate').hidden",
                10,
                "a1 back with the caller",
            )
            seen["cancelled"] = await page.evaluate(text_of("escalation-status"))
            seen["a1_up"] = not a1.of_kind("ended")
            await asyncio.sleep(1.5)  # v1's wrap-up (1 s) ends
            await escalate(page, "attended", queue="second-line")
            await page.wait_for(CONSULTING, 30, "a1 talking to the second line again")
            seen["consulting"] = await page.evaluate(text_of("escalation-status"))
            await page.screenshot(ARTIFACTS / "agent-desk-consulting.png")
            await asyncio.sleep(2)  # a1 and v1 talk while the caller holds
            await page.click("#escalate-complete")
            await asyncio.to_thread(a1.wait_for, "ended", 20)
            await page.wait_for(
                "document.getElementById('escalation-status').dataset.state === 'completed'",
                10,
                "the transfer completed",
            )
            seen["completed"] = await page.evaluate(text_of("escalation-status"))
            seen["a1_state"] = await page.evaluate(STATE)
            await page.click("#ready-now")
            await page.wait_for(f"{STATE} === 'available'", 10, "a1 ready now")
            seen["v1_still_up"] = len(v1.of_kind("ended")) == 1
            seen["ended"] = await asyncio.to_thread(second_end, v1)
            seen["caller_ended"] = await asyncio.to_thread(caller.wait_for, "ended", 30)
        finally:
            caller.stop()
        seen["caller_recording"] = seen["caller_ended"].get("recording")
        seen["console"] = page.console
    return seen


def test_an_attended_escalation_joins_caller_and_second_line_and_releases_the_first_agent(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    a1 = agent_phone(pbx, "6101", tmp_path, answer_after=0.3, tone_hz=A1_TONE_HZ)
    v1 = agent_phone(pbx, "6201", tmp_path, answer_after=0.3, talk_seconds=8)
    try:
        seen = asyncio.run(attended_session(service, a1, v1, tmp_path))
    finally:
        a1.stop()
        v1.stop()

    assert seen["consulting"]["escalation-status"] == (
        "Talking to second-line (v1); the caller is on hold"
    )
    assert seen["cancelled"]["escalation-status"] == "Back with the caller (second-line not taken)"
    assert seen["a1_up"], "a1 was hung up by a cancelled consultation"
    assert seen["completed"]["escalation-status"] == "Transferred to second-line (v1)"
    assert seen["a1_state"] == "wrap_up"
    assert seen["v1_still_up"], "the second line's leg ended with the first agent's"
    assert not [line for line in seen["console"] if "exception" in line], seen["console"]
    # Media: v1 heard a1 (the consultation) and then the caller; the caller heard v1.
    v1_heard = read_mono(Path(seen["ended"]["recording"]))
    assert tone_share(v1_heard, A1_TONE_HZ) > 0.8, "v1 did not hear a1"
    assert tone_share(v1_heard, CALLER_TONE_HZ) > 0.8, "v1 did not hear the caller"
    caller_heard = read_mono(Path(seen["caller_recording"]))
    assert tone_share(caller_heard, V1_TONE_HZ) > 0.8, "the caller did not hear v1"

    [ticket] = service.tickets_of(OTHER_CALLER, 1)
    _, detail = service.api(f"/api/tickets/{ticket['id']}")
    assert str(ticket["id"]) == seen["ticket"]["call-ticket"]
    assert detail["agent_id"] == "v1"
    phases = [
        (e.get("mode"), e.get("phase"), e.get("second_agent"))
        for e in detail["events"]
        if e["kind"] == "escalation"
    ]
    assert phases == [
        ("attended", "dialling", None),
        ("attended", "consulting", "v1"),
        ("attended", "cancelled", None),
        ("attended", "dialling", None),
        ("attended", "consulting", "v1"),
        ("attended", "completed", "v1"),
    ], phases
    [last] = [e for e in detail["events"] if e["kind"] == "agent_call_ended"]
    assert last["agent"] == "v1"
    for action in ("desk.escalate_complete", "desk.escalate_cancel"):
        _, audit = service.api(f"/api/audit?action={action}")
        assert [(r["actor"], r["outcome"]) for r in audit["entries"]] == [("agent-a1", "ok")]


def agents_of(service: RunningService) -> dict[str, dict[str, Any]]:
    return {agent["id"]: agent for agent in service.api("/api/agents")[1]["agents"]}


def test_a_blind_escalation_to_an_extension_rings_it_and_releases_the_agent_at_once(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    a1 = agent_phone(pbx, "6101", tmp_path, answer_after=0.3, tone_hz=A1_TONE_HZ)
    v1 = agent_phone(pbx, "6201", tmp_path, answer_after=0.3, talk_seconds=2)
    try:
        set_state(service, "a1", "available")
        set_state(service, "v1", "offline")
        sipp = start_sipp(
            "desk_caller.xml", service.sip_uri_host, BOOKED, workdir=tmp_path / "call", timeout=90
        )
        deadline = time.monotonic() + 40
        while (service.api("/api/desk/a1", token=A1_TOKEN)[1].get("call") or {}).get(
            "phase"
        ) != "connected":
            assert time.monotonic() < deadline, "a1 never connected"
            time.sleep(0.2)
        # Nobody is logged in to second-line: handing the caller there is refused.
        nobody = service.api(
            "/api/desk/a1/escalate", "POST", {"mode": "blind", "queue": "second-line"}, A1_TOKEN
        )
        status, body = service.api(
            "/api/desk/a1/escalate", "POST", {"mode": "blind", "extension": "6201"}, A1_TOKEN
        )
        assert (status, body["state"]) == (200, "transferred"), body
        a1.wait_for("ended", 20)
        a1_state = agents_of(service)["a1"]
        v1.wait_for("answered", 30)
        v1_state = agents_of(service)["v1"]
        result = finish_sipp(sipp, tmp_path / "call", 60)
    finally:
        a1.stop()
        v1.stop()

    assert nobody == (409, {"error": "nobody is logged in to queue second-line"}), nobody
    assert result.returncode == 0, result.errors
    assert a1_state["state"] == "wrap_up"  # released as the caller left, not at the end
    assert v1_state["state"] == "offline"  # rung as an extension, not as v1 of a queue
    [ticket] = service.tickets_of(BOOKED, 1)
    _, detail = service.api(f"/api/tickets/{ticket['id']}")
    steps = [
        (e.get("mode"), e.get("phase"), e.get("extension"))
        for e in detail["events"]
        if e["kind"] == "escalation"
    ]
    assert steps == [("blind", "transferred", "6201"), ("blind", "connected", "6201")], steps
    [ended] = [e for e in detail["events"] if e["kind"] == "agent_call_ended"]
    assert (ended["agent"], ended["by"]) == (None, "agent")
