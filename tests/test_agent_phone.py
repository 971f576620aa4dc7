"""Agents' phones (issue 19, items 2 and 5), with real peers: Kamailio as the PBX and
registrar, pjsua2 phones, SIPp callers, the service as a process, a real Redis.

An agent calls the service from their extension, presses the menu key for
available, hears the confirmation and takes the next transferred call; after it,
the dialled code for "ready" ends their wrap-up and the one for offline logs them
out, each audited like the desk's changes. An agent whose phone is not registered
is taken offline as unreachable by the first dial (and not rung again), or by the
OPTIONS probe before any caller waits on them: not registered at the PBX (404), no
phone at the address (ICMP), or a phone that never answers; a registered one stays."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import baresip
import pytest
from peers.kamailio import Kamailio
from support.harness import free_port, wait_until
from support.phones import agent_phone, agent_state, run_phone, set_state
from support.service import RunningService, start_service
from support.sipp import run_sipp

from ivr.agents.phone_settings import parse_agent_phone
from ivr.exceptions import ConfigError, TelephonyError
from ivr.telephony.reachability import unreachable_detail

CALLER = "5550177"
OTHER_CALLER = "5550178"
PLAN = """plan: default
voice: en
record: false
start: main
nodes:
  main:
    type: menu
    say: "For the help desk, press 1."
    keys: {"1": to_agent}
    timeout: 10
    tries: 1
    fallback: bye
  to_agent: {type: transfer, queue: helpdesk, next: bye, fallback: bye}
  bye: {type: hangup, say: "Goodbye."}
"""
CONFIG = """dialling:
  allow: ['^sip:6\\d\\d\\d@127\\.0\\.0\\.1:{port}$']
  extension_uri: "sip:{{extension}}@127.0.0.1:{port}"
agents:
  - {{id: {first}, name: Alice Wang, extension: "{first_ext}", queues: [helpdesk]}}
  - {{id: {second}, name: Bob Li, extension: "{second_ext}", queues: [helpdesk]}}
{extra}queues:
  helpdesk: {{wrap_up_seconds: 120, ring_timeout_seconds: 10, announce_every_seconds: 60,
              service_level_seconds: 600}}
agent_phone: {{probe_interval_seconds: {probe}, probe_timeout_seconds: 2}}
"""


def _service(
    pbx: Kamailio,
    workdir: Path,
    agents: tuple[str, str, str, str],
    probe: float,
    extra_agents: str = "",
) -> RunningService:
    plans = workdir / "plans"
    plans.mkdir(parents=True)
    (plans / "default.yaml").write_text(PLAN)
    first, first_ext, second, second_ext = agents
    config = CONFIG.format(
        port=pbx.port,
        first=first,
        first_ext=first_ext,
        second=second,
        second_ext=second_ext,
        probe=probe,
        extra=extra_agents,
    )
    return start_service(workdir / "service", plans, config_text=config)


@pytest.fixture(scope="module")
def service(pbx: Kamailio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    running = _service(pbx, tmp_path_factory.mktemp("agent-phone"), ("a1", "6101", "a2", "6102"), 0)
    yield running
    running.stop()


def phone_call(
    service: RunningService, number: str, steps: list[list[Any]], workdir: Path, extension: str
) -> dict[str, Any]:
    """An agent's phone at ``extension`` calls ``number`` at the service."""
    result = run_phone(
        f"sip:{number}@{service.sip_uri_host}",
        steps,
        workdir / f"{number.strip('*')}.wav",
        caller=extension,
        timeout=60,
    )
    assert result.ok, result.error
    return {"heard": result.heard, "events": result.events}


def audit_rows(service: RunningService, actor: str) -> list[dict[str, Any]]:
    status, body = service.api(f"/api/audit?actor={actor}&action=agent.state")
    assert status == 200, body
    return list(reversed(body["entries"]))  # oldest first


def events_of(service: RunningService, ticket: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    _, detail = service.api(f"/api/tickets/{ticket['id']}")
    return [e for e in detail["events"] if e["kind"] == kind]


def test_an_agent_logs_in_by_phone_with_a_key_and_the_next_call_reaches_them(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    assert agent_state(service, "a1")["state"] == "offline"
    phone = agent_phone(pbx, "6101", tmp_path, answer_after=0.5, talk_seconds=2)
    try:
        # The menu starts with the state; key 1 stops it, the confirmation plays, then
        # the service hangs up.
        menu = phone_call(
            service,
            "4357",
            [["hear_start", 20], ["dtmf", "1"], ["hear", 20], ["wait_end", 20]],
            tmp_path,
            "6101",
        )
        assert agent_state(service, "a1")["state"] == "available"
        heard_after_key = menu["heard"][1]
        assert heard_after_key["duration"] > 0.5, menu  # "You are available. Goodbye."
        [row] = audit_rows(service, "phone:6101")
        assert row["target"] == "a1" and row["outcome"] == "ok"
        assert row["detail"]["body"] == {"state": "available"}
        assert row["detail"]["result"] == "available"

        call = run_sipp(
            "desk_caller.xml", service.sip_uri_host, CALLER, workdir=tmp_path / "customer"
        )
        assert call.returncode == 0, call.errors
        phone.wait_for("answered", 10)
        [ticket] = service.tickets_of(CALLER, 1)
        assert ticket["agent_id"] == "a1"
        assert agent_state(service, "a1")["state"] == "wrap_up"

        # Dialled codes: *48 ends the wrap-up now, *47 logs out.
        phone_call(service, "*48", [["hear", 20], ["wait_end", 20]], tmp_path, "6101")
        assert agent_state(service, "a1")["state"] == "available"
        phone_call(service, "*47", [["hear", 20], ["wait_end", 20]], tmp_path, "6101")
        assert agent_state(service, "a1")["state"] == "offline"
    finally:
        phone.stop()
    rows = audit_rows(service, "phone:6101")
    assert [(r["detail"]["action"], r["detail"]["result"]) for r in rows] == [
        ("available", "available"),
        ("ready", "available"),
        ("offline", "offline"),
    ]
    assert [r["detail"]["via"] for r in rows] == ["phone key", "phone code", "phone code"]
    # The agent's own calls are no customer tickets.
    _, body = service.api("/api/tickets?caller=6101")
    assert body["tickets"] == []


def test_a_dial_to_an_unregistered_agent_phone_takes_them_offline_and_they_are_not_rung_again(
    service: RunningService, tmp_path: Path
) -> None:
    set_state(service, "a2", "available")  # extension 6102: no phone registered at the PBX
    first = run_sipp(
        "desk_caller.xml", service.sip_uri_host, OTHER_CALLER, workdir=tmp_path / "one"
    )
    assert first.returncode == 0, first.errors
    a2 = agent_state(service, "a2")
    assert a2["state"] == "offline"
    assert a2["reason"] == "unreachable: 404 Not Found", a2

    second = run_sipp(
        "desk_caller.xml", service.sip_uri_host, OTHER_CALLER, workdir=tmp_path / "two"
    )
    assert second.returncode == 0, second.errors
    tickets = sorted(service.tickets_of(OTHER_CALLER, 2), key=lambda t: t["id"])
    assert [e["agent"] for e in events_of(service, tickets[0], "agent_ringing")] == ["a2"]
    assert events_of(service, tickets[1], "agent_ringing") == []
    assert events_of(service, tickets[1], "queue_fallback")[0]["reason"] == "no agents logged in"


def test_the_hotline_key_takes_an_agent_on_to_the_customer_plan(
    service: RunningService, tmp_path: Path
) -> None:
    phone_call(
        service,
        "4357",
        [["hear_start", 20], ["dtmf", "0"], ["pause", 1.5], ["dtmf", "1"], ["wait_end", 30]],
        tmp_path,
        "6102",
    )
    [ticket] = service.tickets_of("6102", 1)
    assert ticket["keys"] == "1", ticket
    assert events_of(service, ticket, "queued")[0]["queue"] == "helpdesk"
    assert audit_rows(service, "phone:6102") == []  # no state was asked for


def test_the_options_probe_takes_an_unregistered_phone_offline_before_anyone_rings_it(
    pbx: Kamailio, tmp_path: Path
) -> None:
    # Phones reached without the PBX: p3's at a port where nothing listens, p4's at a
    # socket that takes the OPTIONS and never answers (a hung phone).
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    silent.settimeout(5)
    direct = (
        f'  - {{id: p3, uri: "sip:6203@127.0.0.1:{free_port()}", queues: [helpdesk]}}\n'
        f'  - {{id: p4, uri: "sip:6204@127.0.0.1:{silent.getsockname()[1]}", queues: [helpdesk]}}\n'
    )
    probing = _service(pbx, tmp_path, ("p1", "6201", "p2", "6202"), 0.5, direct)
    phone = agent_phone(pbx, "6201", tmp_path)  # p2's 6202 is not registered
    gone = ("p2", "p3", "p4")
    try:
        set_state(probing, "p1", "available")
        for agent in gone:
            set_state(probing, agent, "available")
        wait_until(
            lambda: all(agent_state(probing, a)["state"] == "offline" for a in gone),
            10,
            "p2, p3 and p4 taken offline by the probe",
        )
        reasons = {a: agent_state(probing, a)["reason"] for a in gone}
        assert reasons["p2"] == "unreachable: 404 Not Found to OPTIONS", reasons
        assert reasons["p3"].startswith("unreachable: OPTIONS not delivered"), reasons
        assert reasons["p4"] == "unreachable: no answer to OPTIONS in 2 s", reasons
        assert silent.recv(4096).startswith(b"OPTIONS sip:6204@127.0.0.1:")
        # probed in the same rounds, and answered (pjsua2's 200 through the PBX)
        assert agent_state(probing, "p1")["state"] == "available"
        assert not phone.of_kind("incoming")  # the probe rings nothing
    finally:
        phone.stop()
        probing.stop()
        silent.close()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"keys": {"available": "12"}}, "agent_phone.keys.available has value '12'"),
        ({"keys": {"lunch": "5"}}, "unknown action 'lunch'"),
        ({"codes": {"available": "*45", "break": "*45"}}, "'*45' is given to available and break"),
        ({"codes": {"hotline": "*40"}}, "unknown action 'hotline'"),
        ({"login": "yes"}, "agent_phone.login has value 'yes'"),
        ({"probe_timeout_seconds": 0}, "must be above 0"),
        ({"prob_interval_seconds": 5}, "unknown setting 'prob_interval_seconds'"),
    ],
)
def test_a_bad_agent_phone_setting_is_named(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_agent_phone(raw, "ivr.yaml: agent_phone")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("close_reason", "unreachable"),
    [
        ("404 Not Found", "404 Not Found"),
        ("480 Temporarily Unavailable", "480 Temporarily Unavailable"),
        ("503 Service Unavailable", "503 Service Unavailable"),
        ("408 Request Timeout", "408 Request Timeout"),
        ("Connection timed out [110]", "Connection timed out [110]"),
        ("Connection refused [111]", "Connection refused [111]"),
        ("486 Busy Here", None),  # there, busy: "did not answer"
        ("603 Decline", None),
        ("Connection reset by peer [104]", None),  # the far end's BYE
        ("Call transfered", None),
        ("", None),
    ],
)
def test_what_a_failed_dial_says_of_the_phone(close_reason: str, unreachable: str | None) -> None:
    """The stack's close reasons of an outbound call that was never answered."""
    try:
        raise TelephonyError("not answered") from baresip.CallFailed.from_close_reason(close_reason)
    except TelephonyError as exc:
        assert unreachable_detail(exc) == unreachable
