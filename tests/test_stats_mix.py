"""The operations figures agree exactly with the tickets after a mix of real calls:
self-served, transferred to an agent, called back, abandoned; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from peers.kamailio import Kamailio
from support.harness import wait_until
from support.phones import agent_phone, caller_phone, set_state
from support.service import RunningService, start_service
from support.sipp import run_sipp

PLAN = """plan: default
voice: en
start: menu
nodes:
  menu:
    type: menu
    say: "Press 1 for help, 2 for an agent, 3 for a callback."
    keys: {"1": selfhelp, "2": to_agent, "3": offer}
    fallback: bye
  selfhelp: {type: prompt, say: "Restart your computer.", next: bye}
  to_agent: {type: transfer, queue: helpdesk, next: bye, fallback: bye}
  offer:
    type: callback
    queue: helpdesk
    say: "Press 1 for a callback."
    confirm: "Press 1 to confirm."
    booked: "Booked."
    next: bye
    decline: bye
    fallback: bye
  bye: {type: hangup, say: "Goodbye."}
"""
CONFIG = """dialling:
  allow: ['^sip:[68]0\\d\\d@127\\.0\\.0\\.1:{port}$']
  extension_uri: "sip:{{extension}}@127.0.0.1:{port}"
agents: [{{id: a1, extension: "6001", queues: [helpdesk]}}]
queues: {{helpdesk: {{wrap_up_seconds: 0, whisper: false}}}}
callbacks:
  number_uri: "sip:{{number}}@127.0.0.1:{port}"
  backoff_seconds: [1]
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def service(
    request: pytest.FixtureRequest, pbx: Kamailio, tmp_path: Path
) -> Iterator[RunningService]:
    env = {}
    if request.param == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_database")()
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "default.yaml").write_text(PLAN)
    running = start_service(
        tmp_path / "service", plans, env=env, config_text=CONFIG.format(port=pbx.port)
    )
    yield running
    running.stop()


def detail(service: RunningService, ticket_id: int) -> dict[str, Any]:
    return service.api(f"/api/tickets/{ticket_id}")[1]


def test_stats_agree_with_the_tickets_after_a_mix_of_real_calls(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    agent = agent_phone(pbx, "6001", tmp_path, talk_seconds=1)
    customer = agent_phone(pbx, "8001", tmp_path, talk_seconds=1, tone_hz=1100)
    try:
        set_state(service, "a1", "available")
        for scenario, caller in (
            ("menu_key1_rfc2833.xml", "7101"),  # self-served
            ("hangup_during_prompt.xml", "7102"),  # abandoned
            ("menu3_accept_callback.xml", "8001"),  # called back
        ):
            result = run_sipp(scenario, service.sip_uri_host, caller, workdir=tmp_path / caller)
            assert result.returncode == 0, result.errors
        transferred = caller_phone(
            service, "100", tmp_path, "7103", dtmf={"digits": "2", "after": 1.0}
        )
        transferred.wait_for("done", 60)
        wait_until(
            lambda: service.api("/api/callbacks")[1]["counts"]["done"] == 1, 60, "the callback"
        )
    finally:
        agent.stop()
        customer.stop()

    _, search = service.api("/api/tickets?limit=500")
    tickets = search["tickets"]
    assert len(tickets) == 4
    events = {t["id"]: [e["kind"] for e in detail(service, t["id"])["events"]] for t in tickets}
    _, stats = service.api("/api/stats")
    assert stats["calls"] == len(tickets)
    assert stats["completed"] == sum(t["disposition"] == "completed" for t in tickets) == 3
    assert stats["abandoned"] == sum(t["disposition"] == "abandoned" for t in tickets) == 1
    self_served = [
        t
        for t in tickets
        if t["disposition"] == "completed"
        and t["agent_id"] is None
        and "callback_requested" not in events[t["id"]]
    ]
    assert stats["self_service"] == len(self_served) == 1
    assert stats["transferred"] == sum(t["transfer_method"] is not None for t in tickets) == 1
    assert stats["callbacks_requested"] == sum(
        k == "callback_requested" for kinds in events.values() for k in kinds
    )
    assert (
        stats["callbacks_completed"]
        == sum(k == "callback_connected" for kinds in events.values() for k in kinds)
        == 1
    )
    waits = [t["wait_seconds"] for t in tickets if t["agent_id"] is not None]
    assert stats["average_speed_of_answer_seconds"] == pytest.approx(sum(waits) / len(waits))
