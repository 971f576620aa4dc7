"""The English example plan on real SIP calls: every branch, one service.

The service runs the shipped ``it-helpdesk.en`` plan as its default plan
(``IVR_DEFAULT_PLAN``) from a folder holding two copies of the shipped file
that differ only in the office-hours calendar, so no branch depends on the wall
clock: the default copy is always open; ``it-helpdesk-closed`` is never open and
takes calls to the number ``closed``. Agents are pjsua2 phones registered with
Kamailio; the callers are pjsua2 phones pressing keys (RFC 4733) as they hear
the prompts. Phase one runs with every agent logged out (the queue's wait has
no end, transfers fall back), phase two with agents logged in.
"""

from __future__ import annotations

import array
import json
import math
import wave
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from peers.kamailio import Kamailio
from support.harness import REPO, wait_until
from support.phones import PhoneResult, agent_phone, agent_state, run_phone, set_state
from support.service import RunningService, start_service

SHIPPED = REPO / "dialplans" / "it-helpdesk.en.yaml"
HELPDESK_AGENTS = {"h1": "6101", "h2": "6102", "h3": "6103"}
VENDOR_AGENT = ("v1", "6201")
CONFIG = """sip: {{rtp_timeout_seconds: 300}}
directory_csv: {directory}
dialling:
  allow: ['^sip:6\\d\\d\\d@127\\.0\\.0\\.1:{port}$']
  extension_uri: "sip:{{extension}}@127.0.0.1:{port}"
agents:
  - {{id: h1, extension: "6101", queues: [helpdesk]}}
  - {{id: h2, extension: "6102", queues: [helpdesk]}}
  - {{id: h3, extension: "6103", queues: [helpdesk]}}
  - {{id: v1, extension: "6201", queues: [finance-vendor]}}
queues:
  helpdesk: {{wrap_up_seconds: 0, average_handle_seconds: 10}}
  finance-vendor: {{wrap_up_seconds: 0, average_handle_seconds: 10}}
"""
MENU = ["welcome", "office_hours", "identify", "greet", "main_menu"]


def plan_copy(folder: Path, name: str, calendar: dict[str, Any], called: str | None) -> None:
    """The shipped plan with another office-hours calendar (and name, and DID)."""
    plan = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    plan["plan"] = name
    plan["hours"]["office"].update(calendar)
    if called is not None:
        plan["match"] = {"called": [called]}
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(plan, allow_unicode=True))


@pytest.fixture(scope="module")
def service(pbx: Kamailio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    plans = tmp_path_factory.mktemp("plans")
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    always_open = {"weekdays": every_day, "open": "00:00", "close": "23:59:59.999999"}
    plan_copy(plans, "it-helpdesk.en", {**always_open, "holidays": []}, None)
    plan_copy(plans, "it-helpdesk-closed", {"weekdays": []}, "closed")
    config = CONFIG.format(directory=REPO / "dialplans" / "directory.csv", port=pbx.port)
    running = start_service(
        tmp_path_factory.mktemp("service"),
        plans,
        env={"IVR_DEFAULT_PLAN": "it-helpdesk.en"},
        config_text=config,
    )
    yield running
    running.stop()


def call(
    service: RunningService,
    workdir: Path,
    caller: str,
    steps: list[list[Any]],
    called: str = "4357",
) -> PhoneResult:
    return run_phone(
        f"sip:{called}@{service.sip_uri_host}",
        steps,
        workdir / f"caller-{caller}-{called}.wav",
        caller=caller,
        timeout=150,
    )


def calls_at_once(service: RunningService, workdir: Path, calls: dict[str, Any]) -> None:
    """Place the calls concurrently; each value is (caller, steps[, called])."""
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = {
            name: pool.submit(call, service, workdir, *arguments)
            for name, arguments in calls.items()
        }
        results = {name: future.result() for name, future in futures.items()}
    for name, result in results.items():
        assert result.ok, f"{name}: {result.error} {result.events}"


def voice_wav(path: Path, seconds: float = 2.0) -> Path:
    """A stand-in for a caller's message: a tone loud enough to count as speech."""
    rate = 8000
    samples = array.array(
        "h",
        (int(8000 * math.sin(2 * math.pi * 440 * n / rate)) for n in range(int(seconds * rate))),
    )
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return path


def ticket_of(service: RunningService, caller: str) -> dict[str, Any]:
    [ticket] = service.tickets_of(caller, 1)
    _, detail = service.api(f"/api/tickets/{ticket['id']}")
    return dict(detail)


def kinds(ticket: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in ticket["events"]]


HEAR = ["hear", 40]
END = ["wait_end", 60]


def test_every_branch_of_the_english_plan(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    log = service.log_text()
    assert "no speech model installed" in log and "keys-only" in log, "speech falls back to keys"
    assert "speech model 'en-us' is not installed" in log

    speak = ["say", str(voice_wav(tmp_path / "message.wav"))]
    # Phase one: nobody logged in. Callers are numbers of the shipped directory
    # (1001-1004, 2001-2004) or unknown (9xxx).
    calls_at_once(
        service,
        tmp_path,
        {
            "password solved": (
                "1002",
                [HEAR, ["dtmf", "1"], HEAR, ["dtmf", "1"], HEAR, ["dtmf", "5"], END],
            ),
            "unknown caller keys an ID": (
                "9001",
                [HEAR, ["dtmf", "200201"], HEAR, ["dtmf", "2"], HEAR, ["dtmf", "3"], END],
            ),
            "software": ("1003", [HEAR, ["dtmf", "3"], HEAR, ["dtmf", "5"], END]),
            "closed": ("2002", [HEAR, speak, ["dtmf", "#"], END], "closed"),
            "no agents": (
                "1004",
                [HEAR, ["dtmf", "0"], HEAR, ["dtmf", "1"], HEAR, speak, ["dtmf", "#"], END],
            ),
        },
    )
    solved = ticket_of(service, "1002")
    assert solved["nodes"] == [*MENU, "password_reset", "password_solved", "survey", "thanks"]
    assert solved["satisfaction"] == 5 and solved["disposition"] == "completed"
    assert solved["variables"]["employee_name"] == "Zhang Min"

    keyed = ticket_of(service, "9001")
    assert keyed["nodes"] == [
        "welcome",
        "office_hours",
        "identify",
        "ask_employee_id",
        "greet",
        "main_menu",
        "account",
        "survey",
        "thanks",
    ]
    assert keyed["variables"]["employee_id"] == "200201" and keyed["satisfaction"] == 3

    software = ticket_of(service, "1003")
    assert software["nodes"] == [*MENU, "software", "survey", "thanks"]
    assert software["satisfaction"] == 5

    closed = ticket_of(service, "2002")
    assert closed["plan"]["name"] == "it-helpdesk-closed"
    assert closed["nodes"] == [
        "welcome",
        "office_hours",
        "closed",
        "closed_message",
        "offer_callback",
        "goodbye",
    ]
    [message] = [e for e in closed["events"] if e["kind"] == "message"]
    assert message["path"] and Path(message["path"]).is_file(), message

    nobody = ticket_of(service, "1004")
    assert nobody["nodes"] == [
        *MENU,
        "agent_route",
        "long_wait",
        "to_agent",
        "no_agent",
        "busy_message",
        "callback_promise",
        "goodbye",
    ]
    assert nobody["variables"]["helpdesk_estimated_wait_seconds"] == "", "no agent: no end"
    assert "queue_fallback" in kinds(nobody)
    [message] = [e for e in nobody["events"] if e["kind"] == "message"]
    assert message["ended_by"] == "key" and Path(message["path"]).is_file(), message

    # Phase two: agents logged in; the ticket of the first call changes its work status.
    status, _ = service.api(f"/api/tickets/{solved['id']}", "PATCH", {"work_status": "in_progress"})
    assert status == 200
    phones = [
        agent_phone(pbx, extension, tmp_path, talk_seconds=5, answer_after=1.0)
        for extension in [*HELPDESK_AGENTS.values(), VENDOR_AGENT[1]]
    ]
    try:
        for agent in [*HELPDESK_AGENTS, VENDOR_AGENT[0]]:
            set_state(service, agent, "available")
        ticket_digits = str(solved["id"])
        calls_at_once(
            service,
            tmp_path,
            {
                # After an agent the caller waits for the agent's tone (or the tone and
                # the survey) to end before rating: keys during the talk are the agent's.
                "not solved, agent": (
                    "2001",
                    [HEAR, ["dtmf", "1"], HEAR, ["dtmf", "2"], ["hear", 60], ["dtmf", "4"], END],
                ),
                "agent by key (VIP)": (
                    "1001",
                    [HEAR, ["dtmf", "0"], ["hear", 60], ["dtmf", "5"], END],
                ),
                "expense system vendor": (
                    "2003",
                    [HEAR, ["dtmf", "4"], HEAR, ["hear", 60], ["dtmf", "4"], END],
                ),
                # Digits typed ahead: three wrong IDs, then to an agent; no rating.
                "wrong ID three times": (
                    "9002",
                    [HEAR, ["dtmf", "999999999999123456"], ["wait_end", 120]],
                ),
                "ticket status": (
                    "2004",
                    [
                        HEAR,
                        ["dtmf", "9"],
                        HEAR,
                        ["dtmf", f"{ticket_digits}#"],
                        HEAR,
                        ["dtmf", "5"],
                        END,
                    ],
                ),
            },
        )
    finally:
        for phone in phones:
            phone.stop()

    for caller, satisfaction in (("2001", 4), ("1001", 5)):
        helped = ticket_of(service, caller)
        assert helped["nodes"][-4:] == ["agent_route", "to_agent", "survey", "thanks"], caller
        assert helped["agent_id"] in HELPDESK_AGENTS and helped["queue"] == "helpdesk"
        events = [(e["kind"], e.get("agent"), e["at"]) for e in helped["events"]]
        assert helped["talk_seconds"], json.dumps(events)
        assert helped["satisfaction"] == satisfaction, json.dumps(events)
    assert ticket_of(service, "2001")["nodes"][:7] == [*MENU, "password_reset", "password_solved"]
    vip = ticket_of(service, "1001")
    assert vip["nodes"] == [*MENU, "agent_route", "to_agent", "survey", "thanks"]
    assert vip["variables"]["vip"] == "yes"

    vendor = ticket_of(service, "2003")
    assert vendor["nodes"] == [*MENU, "finance", "to_finance", "survey", "thanks"]
    assert vendor["agent_id"] == VENDOR_AGENT[0] and vendor["queue"] == "finance-vendor"
    assert vendor["satisfaction"] == 4

    unknown = ticket_of(service, "9002")
    assert unknown["nodes"] == [
        "welcome",
        "office_hours",
        "identify",
        "ask_employee_id",
        "not_identified",
        "agent_route",
        "to_agent",
        "survey",
        "thanks",
    ]
    assert kinds(unknown).count("no_match") == 3
    assert unknown["agent_id"] in HELPDESK_AGENTS

    looked_up = ticket_of(service, "2004")
    assert looked_up["nodes"] == [
        *MENU,
        "ask_ticket",
        "lookup_ticket",
        "status_words",
        "status_in_progress",
        "ticket_status",
        "survey",
        "thanks",
    ]
    assert looked_up["variables"]["ticket"] == ticket_digits
    assert looked_up["variables"]["ticket_work_status"] == "in_progress"
    assert looked_up["variables"]["ticket_opened"] == solved["started_at"]
    assert looked_up["satisfaction"] == 5
    for agent in HELPDESK_AGENTS:
        wait_until(lambda a=agent: agent_state(service, a)["state"] != "on_call", 10, agent)
