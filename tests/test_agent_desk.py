"""The agent desk in headless Chromium with real calls: an agent signs in with their
token, goes available with one click, a SIPp caller presses 1 and is queued, the
agent's pjsua2 phone rings and answers, and the desk shows who calls (from the
directory, the number masked) and what they did in the IVR within a second of the
answer; the agent asks for a break (held while on the call), wraps up with a
disposition and resolves the ticket from the page; logged out, the page shows
nothing of the call."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from peers.chromium import Browser
from peers.kamailio import Kamailio
from support.agent_desk import CALLER, PHASE, desk_service, sign_in, text_of
from support.harness import ARTIFACTS
from support.phones import Phone, agent_phone, agent_state
from support.service import RunningService, api_token_item
from support.sipp import finish_sipp, run_sipp, start_sipp

from ivr.agents.desk_calls import ivr_steps, journal_pop
from ivr.agents.settings import parse_contact_center
from ivr.exceptions import ConfigError
from ivr.tickets.model import CallJournal

AGENT_TOKEN = "desk_agent_a1_token_for_tests"
OTHER_AGENT_TOKEN = "desk_agent_a2_token_for_tests"
VIEWER_TOKEN = "desk_viewer_token_for_tests"
NOTE = "Reset the VPN password; the caller logged in again."
HELD = "Held: the queue is busy, granted when an agent frees up"
CENTER = """agents:
  - {id: a1, name: Alice Wang, extension: "6101", queues: [helpdesk]}
  - {id: a2, name: Bob Li, extension: "6102", queues: [helpdesk]}
queues:
  helpdesk: {wrap_up_seconds: 20, dispositions: [password_reset, hardware, other]}
"""


@pytest.fixture(scope="module")
def service(pbx: Kamailio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    tokens = [
        api_token_item("agent-a1", "agent", AGENT_TOKEN, "a1"),
        api_token_item("agent-a2", "agent", OTHER_AGENT_TOKEN, "a2"),
        api_token_item("wallboard", "viewer", VIEWER_TOKEN),
    ]
    with desk_service(
        tmp_path_factory.mktemp("desk"), pbx.port, CENTER, extensions=r"61\d\d", tokens=tokens
    ) as running:
        yield running


STEPS = (
    "Array.from(document.querySelectorAll('#ivr-steps li'))"
    ".map(li => [li.dataset.node, (li.querySelector('.keys') || {}).textContent || ''])"
)
HISTORY = (
    "Array.from(document.querySelectorAll('#history tbody tr'))"
    ".map(r => r.innerText.replace(/\\s+/g, ' ').trim())"
)


async def when_reported(phone: Phone, kind: str) -> float:
    """The moment the phone reports ``kind`` (monotonic clock)."""
    await asyncio.to_thread(phone.wait_for, kind, 60)
    return time.monotonic()


async def desk_session(service: RunningService, phone: Phone, workdir: Path) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    async with Browser(lang="en-US") as page:
        await page.goto(f"http://127.0.0.1:{service.http_port}/agent")
        await sign_in(page, AGENT_TOKEN)
        await page.wait_for(
            "document.getElementById('state').dataset.state === 'offline'", 10, "a1 offline"
        )
        seen["who"] = await page.evaluate("document.getElementById('who').textContent")
        await page.click("#state-buttons button[data-state='available']")
        await page.wait_for(
            "document.getElementById('state').dataset.state === 'available'", 10, "a1 available"
        )
        seen["api_state"] = (await asyncio.to_thread(agent_state, service, "a1"))["state"]
        seen["queues_idle"] = await page.evaluate(
            "document.querySelector('#queues tr[data-queue=\"helpdesk\"]').innerText"
        )

        answered = asyncio.create_task(when_reported(phone, "answered"))
        sipp = start_sipp(
            "desk_caller.xml", service.sip_uri_host, CALLER, workdir=workdir / "call", timeout=120
        )
        await page.wait_for(f"{PHASE} === 'ringing'", 30, "the ringing call on the desk")
        seen["ringing"] = await page.evaluate(text_of("caller-name", "caller-employee-id"))
        await page.wait_for(
            f"{PHASE} === 'connected'"
            " && document.getElementById('caller-name').textContent === 'Li Wei'"
            " && document.getElementById('ivr-keys').textContent === '1'",
            30,
            "the connected call with the caller's identity and keys",
        )
        shown_at = time.monotonic()
        seen["pop_delay"] = shown_at - await answered
        seen["call"] = await page.evaluate(
            text_of(
                "caller-name",
                "caller-department",
                "caller-employee-id",
                "caller-number",
                "call-ticket",
                "call-queue",
                "ivr-keys",
                "ivr-intent",
                "ivr-wait",
                "call-kind",
            )
        )
        seen["steps"] = await page.evaluate(STEPS)
        seen["history"] = await page.evaluate(HISTORY)
        seen["dispositions"] = await page.evaluate(
            "Array.from(document.querySelectorAll('#disposition option')).map(o => o.value)"
        )

        # A break asked for on a call is held, and the desk says so.
        await page.click("#state-buttons button[data-state='break']")
        await page.wait_for(
            "!document.getElementById('break-held').hidden", 10, "the held break notice"
        )
        seen["held"] = await page.evaluate("document.getElementById('break-held').textContent")
        seen["held_state"] = await asyncio.to_thread(agent_state, service, "a1")
        await page.screenshot(ARTIFACTS / "agent-desk-call-en.png")

        # The agent hangs up; the desk keeps the call for its wrap-up.
        await page.wait_for(f"{PHASE} === 'ended'", 30, "the call ended on the desk")
        await page.evaluate(
            "(() => { document.getElementById('disposition').value = 'password_reset';"
            " document.getElementById('work-status').value = 'resolved';"
            f" document.getElementById('note').value = {json.dumps(NOTE)}; }})()"
        )
        await page.click("#wrap-up button[type=submit]")
        await page.wait_for(
            "document.getElementById('wrap-up-result').dataset.outcome", 10, "the wrap-up saved"
        )
        seen["saved"] = await page.evaluate(text_of("wrap-up-result"))
        await page.wait_for(
            "!document.getElementById('call-empty').hidden", 10, "the desk free for the next call"
        )

        seen["label_sets"] = await page.evaluate(
            "[Object.keys(DESK_LABELS.en).sort().join(), Object.keys(DESK_LABELS.zh).sort().join()]"
        )
        seen["keys_in_page"] = await page.evaluate(
            "Array.from(document.querySelectorAll('[data-i18n]')).map(n => n.dataset.i18n)"
        )
        await page.click("#lang-switch button[data-lang='zh']")
        seen["zh"] = await page.evaluate(
            "[document.querySelector('h1').textContent,"
            " document.querySelector('#state-buttons [data-state=\"available\"]').textContent]"
        )
        seen["zh_saved"] = await page.evaluate(text_of("wrap-up-result"))
        await page.screenshot(ARTIFACTS / "agent-desk-zh.png")

        await page.click("#logout")
        await page.wait_for("!document.getElementById('login').hidden", 10, "the sign-in form")
        seen["logged_out_text"] = await page.evaluate("document.body.innerText")
        seen["desk_shown"] = await page.evaluate(
            "getComputedStyle(document.getElementById('desk')).display !== 'none'"
        )
        seen["logged_out_storage"] = await page.evaluate("window.sessionStorage.length")
        await page.screenshot(ARTIFACTS / "agent-desk-logged-out.png")
        seen["console"] = page.console
    seen["sipp"] = await asyncio.to_thread(finish_sipp, sipp, workdir / "call", 60)
    return seen


def test_the_desk_pops_the_caller_at_the_answer_and_the_agent_resolves_the_ticket(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    earlier = run_sipp(
        "key2_rfc2833.xml", service.sip_uri_host, CALLER, workdir=tmp_path / "earlier", timeout=60
    )
    assert earlier.returncode == 0, earlier.errors
    [first] = service.tickets_of(CALLER, 1)

    phone = agent_phone(pbx, "6101", tmp_path, answer_after=1.5, talk_seconds=6)
    try:
        seen = asyncio.run(desk_session(service, phone, tmp_path))
    finally:
        phone.stop()

    assert seen["who"] == "Alice Wang (a1)"
    assert seen["api_state"] == "available"
    assert seen["queues_idle"].split()[:2] == ["helpdesk", "0"], seen["queues_idle"]
    # Who calls is on the desk while it rings, before the agent picks up.
    assert seen["ringing"] == {"caller-name": "Li Wei", "caller-employee-id": "E1042"}
    assert seen["pop_delay"] < 1.0, f"desk showed the answered call {seen['pop_delay']:.2f} s late"
    [ticket] = [t for t in service.tickets_of(CALLER, 2) if t["id"] != first["id"]]
    assert seen["call"] == {
        "caller-name": "Li Wei",
        "caller-department": "Finance",
        "caller-employee-id": "E1042",
        "caller-number": "*****42",  # privacy.mask_desk_numbers (default on)
        "call-ticket": str(ticket["id"]),
        "call-queue": "helpdesk",
        "ivr-keys": "1",
        "ivr-intent": "–",  # keys only: nothing recognised
        "ivr-wait": seen["call"]["ivr-wait"],
        "call-kind": "",
    }
    assert seen["call"]["ivr-wait"].endswith("s"), seen["call"]
    assert seen["steps"] == [["main", "1"], ["to_agent", ""]]
    [history] = seen["history"]
    assert history.startswith(f"{first['id']} ") and history.endswith("open"), history
    assert seen["dispositions"] == ["password_reset", "hardware", "other"]
    assert seen["held"] == HELD
    assert seen["held_state"]["break_requested"] is True
    assert seen["held_state"]["state"] == "on_call"
    assert seen["saved"] == {
        "wrap-up-result": f"Saved: Ticket {ticket['id']} · password_reset · resolved"
    }
    assert seen["sipp"].returncode == 0, seen["sipp"].errors

    english, chinese = seen["label_sets"]
    assert english == chinese
    assert set(seen["keys_in_page"]) <= set(english.split(","))
    assert seen["zh"] == ["坐席工作台", "空闲"]
    saved_zh = f"已保存: 工单 {ticket['id']} · password_reset · 已解决"
    assert seen["zh_saved"] == {"wrap-up-result": saved_zh}
    assert seen["desk_shown"] is False
    traces = ("Li Wei", "E1042", "Finance", "*****42", "password_reset", f"Ticket {ticket['id']}")
    for trace in traces:
        assert trace not in seen["logged_out_text"], (trace, seen["logged_out_text"])
    assert seen["logged_out_storage"] == 0
    assert not [line for line in seen["console"] if "exception" in line], seen["console"]

    # The wrap-up is on the ticket and in the audit log.
    _, detail = service.api(f"/api/tickets/{ticket['id']}")
    assert detail["work_status"] == "resolved" and detail["agent_id"] == "a1"
    assert [(n["author"], n["text"]) for n in detail["notes"]] == [("a1", NOTE)]
    [wrap] = [e for e in detail["events"] if e["kind"] == "wrap_up"]
    assert (wrap["agent"], wrap["disposition"], wrap["work_status"]) == (
        "a1",
        "password_reset",
        "resolved",
    )
    _, audit = service.api("/api/audit?action=desk.wrap_up")
    [row] = audit["entries"]
    assert (row["actor"], row["role"], row["target"], row["outcome"]) == (
        "agent-a1",
        "agent",
        "a1",
        "ok",
    )
    assert row["detail"]["body"]["disposition"] == "password_reset"
    assert AGENT_TOKEN not in service.log_text()


def test_a_desk_is_its_agents_alone_and_a_wrap_up_is_checked(service: RunningService) -> None:
    assert service.api("/api/desk/a1", token=None)[0] == 401
    assert service.api("/api/desk/a1", token=VIEWER_TOKEN)[0] == 403
    status, body = service.api("/api/desk/a1", token=OTHER_AGENT_TOKEN)
    assert status == 403 and "a2 only" in body["error"], body
    status, body = service.api("/api/desk/nobody")
    assert status == 404

    status, desk = service.api("/api/desk/a2", token=OTHER_AGENT_TOKEN)
    assert status == 200
    assert desk["agent"]["id"] == "a2" and desk["agent"]["queues"] == ["helpdesk"]
    assert [q["name"] for q in desk["queues"]] == ["helpdesk"]

    [ticket] = service.tickets_of(CALLER, 2)[-1:]  # the earlier call: nobody's
    wrap = {"ticket_id": ticket["id"], "work_status": "resolved", "disposition": "other"}
    status, body = service.api("/api/desk/a2/wrap-up", "POST", wrap, token=OTHER_AGENT_TOKEN)
    assert status == 403 and "not a call of agent a2" in body["error"], body
    status, body = service.api("/api/desk/a1/wrap-up", "POST", wrap, token=OTHER_AGENT_TOKEN)
    assert status == 403, body
    bad = {**wrap, "work_status": "done"}
    status, body = service.api("/api/desk/a2/wrap-up", "POST", bad, token=OTHER_AGENT_TOKEN)
    assert status == 400 and "work_status" in body["error"], body
    _, audit = service.api("/api/audit?action=desk.wrap_up&outcome=refused")
    assert {row["actor"] for row in audit["entries"]} == {"agent-a2"}

    # Erasing the caller's data also drops the desk's record of their call.
    status, erased = service.api(f"/api/callers/{CALLER}", method="DELETE")
    assert status == 200 and erased["desk_records_deleted"] == 1, erased
    assert service.api(f"/api/callers/{CALLER}", method="DELETE")[1]["desk_records_deleted"] == 0


def test_the_desk_carries_the_ivr_path_with_keys_and_what_was_said() -> None:
    journal = CallJournal()
    journal.identified({"employee_id": "E7", "employee_name": "Zhang Min"}, by="number")
    journal.entered("main")
    journal.event("utterance", node="main", text="reset my password", intent="password")
    journal.handling.intent = "password"
    journal.entered("password")
    journal.pressed("1", "password")
    journal.entered("to_agent")

    pop = journal_pop(journal, 12, "1002", "helpdesk")

    assert pop["steps"] == [
        {"node": "main", "keys": "", "said": [{"text": "reset my password", "intent": "password"}]},
        {"node": "password", "keys": "1", "said": []},
        {"node": "to_agent", "keys": "", "said": []},
    ]
    assert (pop["employee_name"], pop["employee_id"], pop["intent"], pop["keys"]) == (
        "Zhang Min",
        "E7",
        "password",
        "1",
    )
    assert ivr_steps([]) == []


@pytest.mark.parametrize(
    ("dispositions", "problem"),
    [
        ("reset", "expected a list of codes"),
        (["reset", "reset"], "listed twice"),
        ([""], "a code is 1-64 characters"),
        ([{"code": "x"}], "expected a code"),
    ],
)
def test_a_bad_disposition_list_is_refused_naming_the_queue(
    dispositions: object, problem: str
) -> None:
    raw = {"queues": {"helpdesk": {"dispositions": dispositions}}}
    with pytest.raises(ConfigError, match=problem) as refused:
        parse_contact_center(raw, "ivr.yaml")
    assert "ivr.yaml: queues.helpdesk.dispositions" in str(refused.value)


def test_disposition_codes_are_read_in_order() -> None:
    raw = {"queues": {"helpdesk": {"dispositions": ["password_reset", "硬件", 42]}}}
    settings = parse_contact_center(raw, "ivr.yaml")
    assert settings.queues["helpdesk"].dispositions == ("password_reset", "硬件", "42")
