"""Agents and queues: callers transferred to pjsua2 agent phones registered with Kamailio."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from peers.kamailio import Kamailio
from support.audio import read_mono, tone_share
from support.harness import wait_until
from support.phones import (
    AGENT_TONE_HZ,
    CALLER_TONE_HZ,
    agent_phone,
    agent_state,
    caller_phone,
    set_state,
)
from support.service import RunningService, start_service
from support.sipp import finish_sipp, start_sipp

PLAN = """plan: {name}
voice: en
record: true
{match}
start: welcome
nodes:
  welcome: {{type: prompt, say: "One moment.", next: to_agent}}
  to_agent:
    type: transfer
    {target}
    whisper: "Call from {{caller_number}}."
    announce: "You are number {{position}}."
    next: after
    fallback: nobody
  after: {{type: hangup, say: "Thank you for calling."}}
  nobody: {{type: hangup, say: "Nobody can take your call."}}
"""
PLANS = {
    "default": ("", "queue: basic"),
    "rona": ('match: {called: ["202"]}', "queue: rona"),
    "referq": ('match: {called: ["203"]}', "queue: referq"),
    "empty": ('match: {called: ["204"]}', "queue: empty"),
    "refused": ('match: {called: ["205"]}', 'extension: "9999"\n    method: refer'),
    "many": ('match: {called: ["206"]}', "queue: many"),
    "capped": ('match: {called: ["207"]}', 'extension: "6009"\n    method: refer'),
}
CONFIG = """sip: {{rtp_timeout_seconds: 300}}
screen_pop_url: "http://127.0.0.1:{pop_port}/pop"
dialling:
  allow: ['^sip:60\\d\\d@127\\.0\\.0\\.1:{port}$']
  extension_uri: "sip:{{extension}}@127.0.0.1:{port}"
  limits: [{{match: '6009@', hours: {{weekdays: []}}}}]   # 6009 may never be dialled
agents:
  - {{id: a1, name: Alice, extension: "6001", queues: [basic]}}
  - {{id: a2, extension: "6002", queues: [rona]}}
  - {{id: a3, extension: "6003", queues: [rona]}}
  - {{id: a4, extension: "6004", queues: [referq]}}
  - {{id: a5, extension: "6005", queues: [empty]}}
{many_agents}
queues:
  basic: {{wrap_up_seconds: 1}}
  rona: {{ring_timeout_seconds: 2, wrap_up_seconds: 0}}
  referq: {{transfer: refer}}
  empty: {{}}
  many: {{whisper: false, wrap_up_seconds: 0, announce_every_seconds: 4, average_handle_seconds: 5,
         service_level_seconds: 5}}
"""
# Extensions 6011-6015: clear of 6009, which dialling.limits forbids.
MANY_AGENTS = [f"a{n}" for n in range(11, 16)]


class ScreenPops(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # the name http.server calls
        length = int(self.headers.get("Content-Length", 0))
        ScreenPops.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def screen_pops() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScreenPops)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], ScreenPops.received
    server.shutdown()


@pytest.fixture(scope="module")
def service(
    pbx: Kamailio,
    screen_pops: tuple[int, list[dict[str, Any]]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningService]:
    plans = tmp_path_factory.mktemp("plans")
    for name, (match, target) in PLANS.items():
        (plans / f"{name}.yaml").write_text(PLAN.format(name=name, match=match, target=target))
    many = "\n".join(
        f'  - {{id: {agent}, extension: "60{agent[1:]:0>2}", queues: [many]}}'
        for agent in MANY_AGENTS
    )
    config = CONFIG.format(port=pbx.port, many_agents=many, pop_port=screen_pops[0])
    running = start_service(tmp_path_factory.mktemp("service"), plans, config_text=config)
    yield running
    running.stop()


def events_of(service: RunningService, ticket: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    _, detail = service.api(f"/api/tickets/{ticket['id']}")
    return [e for e in detail["events"] if e["kind"] == kind]


def test_caller_and_agent_hear_each_other_and_the_ticket_shows_queue_and_agent(
    service: RunningService,
    pbx: Kamailio,
    screen_pops: tuple[int, list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    agent = agent_phone(pbx, "6001", tmp_path, talk_seconds=4)
    try:
        set_state(service, "a1", "available")
        caller = caller_phone(service, "200", tmp_path, "7001")
        wait_until(lambda: agent_state(service, "a1")["state"] == "on_call", 30, "a1 on call")
        caller.wait_for("done", 60)
        agent.wait_for("ended", 10)
    finally:
        agent.stop()

    [ticket] = service.tickets_of("7001", 1)
    assert ticket["disposition"] == "completed"
    assert ticket["nodes"] == ["welcome", "to_agent", "after"]
    assert ticket["queue"] == "basic"
    assert ticket["agent_id"] == "a1"
    assert ticket["transfer_method"] == "bridge"
    assert ticket["ring_attempts"] == 1
    assert 0 <= ticket["wait_seconds"] < 10
    assert 1 <= ticket["talk_seconds"] < 4, "talk time runs from the bridge, after the whisper"
    [agent_recording] = [e["recording"] for e in agent.of_kind("ended")]
    [caller_recording] = [e["recording"] for e in caller.of_kind("ended")]
    assert tone_share(read_mono(Path(agent_recording)), CALLER_TONE_HZ) > 0.8, "agent hears caller"
    assert tone_share(read_mono(Path(caller_recording)), AGENT_TONE_HZ) > 0.8, "caller hears agent"
    wait_until(lambda: agent_state(service, "a1")["state"] == "available", 10, "a1 after wrap-up")
    [pop] = [p for p in screen_pops[1] if p["caller_number"] == "7001"]
    assert pop["ticket_id"] == ticket["id"] and pop["agent_id"] == "a1" and pop["queue"] == "basic"


def test_ring_no_answer_moves_on_to_the_next_agent_and_takes_the_first_out(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    silent = agent_phone(pbx, "6002", tmp_path, answer=False)
    answering = agent_phone(pbx, "6003", tmp_path, talk_seconds=1)
    try:
        set_state(service, "a2", "available")  # idle longest: rung first
        set_state(service, "a3", "available")
        caller = caller_phone(service, "202", tmp_path, "7002")
        caller.wait_for("done", 60)
    finally:
        silent.stop()
        answering.stop()

    [ticket] = service.tickets_of("7002", 1)
    assert ticket["agent_id"] == "a3"
    assert ticket["ring_attempts"] == 2
    assert [e["agent"] for e in events_of(service, ticket, "agent_no_answer")] == ["a2"]
    assert silent.of_kind("incoming") and not silent.of_kind("answered")
    a2 = agent_state(service, "a2")
    assert a2["state"] == "offline" and "did not answer" in a2["reason"]


def test_no_agent_logged_in_goes_to_the_fallback(service: RunningService, tmp_path: Path) -> None:
    caller = caller_phone(service, "204", tmp_path, "7004")
    caller.wait_for("done", 60)

    [ticket] = service.tickets_of("7004", 1)
    assert ticket["nodes"] == ["welcome", "to_agent", "nobody"]
    assert ticket["agent_id"] is None
    [fallback] = events_of(service, ticket, "queue_fallback")
    assert fallback["reason"] == "no agents logged in"


def test_refer_hands_the_caller_to_the_agent_through_kamailio(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    agent = agent_phone(pbx, "6004", tmp_path, talk_seconds=2)
    try:
        set_state(service, "a4", "available")
        caller = caller_phone(service, "203", tmp_path, "7003")
        caller.wait_for("done", 60)
        agent.wait_for("ended", 10)
    finally:
        agent.stop()

    [refer] = caller.of_kind("refer")
    assert refer["to"].startswith(f"<sip:6004@{pbx.address}") or refer["to"].startswith(
        f"sip:6004@{pbx.address}"
    )
    assert "7003" in agent.wait_for("incoming")["remote"], "the agent got the caller's call"
    assert agent.of_kind("answered")
    [ticket] = service.tickets_of("7003", 1)
    assert ticket["transfer_method"] == "refer"
    assert ticket["agent_id"] == "a4"
    assert ticket["disposition"] == "completed"


def test_a_transfer_target_outside_the_allowed_patterns_is_refused(
    service: RunningService, tmp_path: Path
) -> None:
    caller = caller_phone(service, "205", tmp_path, "7005")
    caller.wait_for("done", 60)

    [ticket] = service.tickets_of("7005", 1)
    assert ticket["nodes"] == ["welcome", "to_agent", "nobody"]
    assert ticket["transfer_method"] is None
    [refused] = events_of(service, ticket, "transfer_refused")
    assert "matches no dialling.allow pattern" in refused["reason"]
    assert not caller.of_kind("refer")


def test_a_transfer_outside_its_allowed_hours_is_refused_with_the_reason(
    service: RunningService, tmp_path: Path
) -> None:
    caller = caller_phone(service, "207", tmp_path, "7007")
    caller.wait_for("done", 60)

    [ticket] = service.tickets_of("7007", 1)
    assert ticket["nodes"] == ["welcome", "to_agent", "nobody"]
    [refused] = events_of(service, ticket, "transfer_failed")
    assert "may not be dialled at this hour (dialling.limits[0].hours" in refused["reason"]
    assert not caller.of_kind("refer")
    assert "dial refused: sip:**09@127.0.0.1" in service.log_text()


def test_fifty_callers_for_five_agents_are_served_in_arrival_order(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    agents = [
        agent_phone(pbx, f"60{a[1:]:0>2}", tmp_path, talk_seconds=0.5, answer_after=0.1)
        for a in MANY_AGENTS
    ]
    try:
        for agent in MANY_AGENTS:
            set_state(service, agent, "available")
        sipp = start_sipp(
            "wait_for_bye.xml",
            service.sip_uri_host,
            "7050",
            calls=50,
            rate=25,
            service_number="206",
            timeout=150,
            workdir=tmp_path / "sipp",
        )
        wait_until(
            lambda: service.api("/api/queues")[1]["queues"][-1]["waiting"] >= 20,
            30,
            "a peak: callers waiting in line",
        )
        held = set_state(service, "a11", "break")
        result = finish_sipp(sipp, tmp_path / "sipp", 200)
        # On a failure, what the calls still up and the agents were doing.
        calls, agents_then = service.api("/api/calls")[1], service.api("/api/agents")[1]
        if result.returncode != 0:  # printed whole: an assertion's message is cut short
            print(json.dumps({"calls": calls, "agents": agents_then}, indent=1))
        assert result.returncode == 0, result.errors
    finally:
        for agent in agents:
            agent.stop()

    assert held["break_requested"] is True, "a break is held back at a peak"
    tickets = service.tickets_of("7050", 50)
    assert len(tickets) == 50
    assert all(t["disposition"] == "completed" for t in tickets)
    served_by = Counter(t["agent_id"] for t in tickets)
    assert set(served_by) <= set(MANY_AGENTS) and sum(served_by.values()) == 50
    assert all(t["wait_seconds"] is not None for t in tickets)

    def place_and_claim(ticket: dict[str, Any]) -> tuple[str, int]:  # ISO 8601 sorts in time
        _, detail = service.api(f"/api/tickets/{ticket['id']}")
        place = next(e["place"] for e in detail["events"] if e["kind"] == "queued")
        claims = [e["claim"] for e in detail["events"] if e["kind"] == "agent_ringing"]
        return place, claims[0]

    # Agents freed at the same moment go to the callers at the head of the line in
    # whatever order those callers ask; nobody is passed by more than that batch.
    claims = [claim for _, claim in sorted(place_and_claim(t) for t in tickets)]
    for index, claim in enumerate(claims):
        passed_by = sum(later < claim for later in claims[index + 1 :])
        assert passed_by < len(MANY_AGENTS), f"caller {index} was passed by {passed_by}: {claims}"
    positions = [e["position"] for t in tickets for e in events_of(service, t, "queue_position")]
    assert max(positions) > 5, "callers deep in line heard their place"
    wait_until(lambda: agent_state(service, "a11")["state"] == "break", 10, "a11 on break")
