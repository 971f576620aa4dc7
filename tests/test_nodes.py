"""Two nodes (each ``ivr serve --workers N`` with its own ports) sharing one Redis and
one PostgreSQL: agents, live calls, callbacks, tickets and recordings seen from either.

Real peers: Kamailio as the PBX (agents and customers register there with pjsua2
phones), SIPp and pjsua2 callers. Skipped without PostgreSQL on 127.0.0.1:5432.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from peers.kamailio import Kamailio
from support import phones
from support.harness import wait_until
from support.nodes import RunningNode, node_env, start_node
from support.sipp import finish_sipp, start_sipp

PLAN = """plan: default
voice: en
record: true
start: welcome
nodes:
  welcome: {type: prompt, say: "Hello.", next: check}
  check:
    type: condition
    when: [{queue: helpdesk, wait_above: 30, goto: offer}]
    otherwise: to_agent
  offer:
    type: callback
    queue: helpdesk
    say: "Press 1 for a callback."
    confirm: "Press 1 to confirm."
    booked: "Booked."
    next: bye
    decline: to_agent
    fallback: bye
  to_agent: {type: transfer, queue: helpdesk, next: bye, fallback: bye}
  bye: {type: hangup, say: "Goodbye."}
"""
CONFIG = """log_level: WARNING
sip: {{rtp_timeout_seconds: 300}}
dialling:
  allow:
    - '^sip:60\\d\\d@127\\.0\\.0\\.1:{port}$'
    - '^sip:80\\d\\d@127\\.0\\.0\\.1:{port}$'
  extension_uri: "sip:{{extension}}@127.0.0.1:{port}"
agents:
  - {{id: a1, extension: "6001", queues: [helpdesk]}}
queues:
  helpdesk: {{wrap_up_seconds: 0, average_handle_seconds: 60}}
callbacks:
  number_uri: "sip:{{number}}@127.0.0.1:{port}"
  modes: {{helpdesk: agent_first}}
  max_attempts: 2
  backoff_seconds: [3]
  ring_timeout_seconds: 6
  lease_seconds: 5
"""


@pytest.fixture
def nodes(
    tmp_path: Path,
    fresh_pbx: Kamailio,
    shared_redis_url: str,
    postgres_database: Callable[[], str],
) -> Iterator[tuple[RunningNode, RunningNode]]:
    """Node A (2 workers behind Kamailio) and node B (1 worker), same Redis and database."""
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "default.yaml").write_text(PLAN)
    database = postgres_database()
    prefix = f"ivrtest:{uuid.uuid4().hex[:8]}:"
    started: list[RunningNode] = []
    try:
        for name, workers in (("nodeA", 2), ("nodeB", 1)):
            env = node_env(tmp_path / name, name, shared_redis_url, database, prefix)
            env["IVR_DIALPLAN_DIR"] = str(plans)
            started.append(
                start_node(tmp_path / name, workers, env, CONFIG.format(port=fresh_pbx.port))
            )
        yield started[0], started[1]
    finally:
        for node in started:
            node.stop()


def _agent(node: RunningNode, agent_id: str) -> dict[str, Any]:
    return next(a for a in node.api("/api/agents")[1]["agents"] if a["id"] == agent_id)


def _set_agent(node: RunningNode, agent_id: str, state: str) -> None:
    status, body = node.api(f"/api/agents/{agent_id}/state", method="POST", body={"state": state})
    assert status == 200, body


def test_agent_made_available_on_node_a_takes_a_caller_on_node_b_and_a_shows_it_all(
    nodes: tuple[RunningNode, RunningNode], fresh_pbx: Kamailio, tmp_path: Path
) -> None:
    node_a, node_b = nodes
    agent = phones.agent_phone(fresh_pbx, "6001", tmp_path, talk_seconds=4)
    try:
        _set_agent(node_a, "a1", "available")
        caller = phones.caller_phone(node_b, "200", tmp_path, "7101")  # type: ignore[arg-type]
        wait_until(lambda: _agent(node_b, "a1")["state"] == "on_call", 30, "a1 on call")
        # Node A's API (its second worker, even) lists node B's live call.
        calls = node_a.api("/api/calls", 2)[1]
        assert calls["complete"] is True
        assert [c["worker_id"] for c in calls["calls"]] == [node_b.worker_id(1)]
        caller.wait_for("done", 60)
        agent.wait_for("ended", 10)
    finally:
        agent.stop()

    def closed() -> list[Any] | None:
        tickets: list[Any] = node_a.api("/api/tickets?caller=7101")[1]["tickets"]
        return tickets if tickets and tickets[0]["disposition"] != "live" else None

    [ticket] = wait_until(closed, 30, "the caller's ticket, read on node A")
    assert ticket["disposition"] == "completed"
    assert ticket["worker_id"] == node_b.worker_id(1)
    assert ticket["agent_id"] == "a1" and ticket["queue"] == "helpdesk"
    # The recording is on node B's disk; node A fetches it from node B.
    recording = Path(ticket["recording_path"])
    assert recording.is_relative_to(node_b.workdir)
    status, body = node_a.api(f"/api/tickets/{ticket['id']}/recording", 1)
    assert status == 200
    assert body == recording.read_bytes()
    # So does a signed link (the dashboard's <audio> element sends no token): signed by
    # one of node A's workers, relayed by the other to node B, which checks it with the
    # key the nodes share.
    status, link = node_a.api(f"/api/tickets/{ticket['id']}/recording-link", 2)
    assert status == 200, link
    status, body = node_a.api(link["url"], 1, token=None)
    assert status == 200 and body == recording.read_bytes()
    status, missing = node_a.api("/api/tickets/999999/recording")
    assert status == 404 and "no ticket 999999" in missing["error"]


def test_callback_booked_on_node_a_is_dialled_by_node_b_once_a_is_stopped(
    nodes: tuple[RunningNode, RunningNode], fresh_pbx: Kamailio, tmp_path: Path
) -> None:
    node_a, node_b = nodes
    # Nobody logged in: the estimated wait is unbounded, so the plan offers a callback.
    booking = start_sipp(
        "accept_callback.xml",
        node_a.sip_uri_host,
        "8001",
        service_number="200",
        timeout=60,
        workdir=tmp_path / "sipp",
    )
    result = finish_sipp(booking, tmp_path / "sipp", 90)
    assert result.returncode == 0, result.errors[-3000:]

    def pending() -> dict[str, Any] | None:
        callbacks = node_b.api("/api/callbacks")[1]["callbacks"]
        return next((c for c in callbacks if c["number"] == "8001"), None)

    booked = wait_until(pending, 20, "the booking, seen from node B")
    assert booked["state"] == "pending"
    assert node_a.stop() == 0
    agent = phones.agent_phone(fresh_pbx, "6001", tmp_path, talk_seconds=10)
    customer = phones.agent_phone(
        fresh_pbx, "8001", tmp_path, talk_seconds=2, tone_hz=phones.CALLER_TONE_HZ
    )
    try:
        _set_agent(node_b, "a1", "available")
        wait_until(
            lambda: (c := pending()) is not None and c["state"] == "done", 60, "callback done"
        )
        customer.wait_for("ended", 20)
    finally:
        agent.stop()
        customer.stop()
    [ticket] = node_b.api("/api/tickets?caller=8001")[1]["tickets"]
    assert ticket["worker_id"].startswith("nodeA-")
    events = node_b.api(f"/api/tickets/{ticket['id']}")[1]["events"]
    attempts = [e for e in events if e["kind"] == "callback_attempt"]
    assert len(attempts) == 1, attempts  # dialled once
    assert attempts[0]["outcome"] == "connected"
    assert attempts[0]["dispatcher"] == f"{node_b.worker_id(1)}-dispatcher"
