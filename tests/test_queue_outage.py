"""A caller waiting in a queue keeps their place through a Redis stall (issue 20: never
break an accepted call): Redis is stopped (SIGSTOP) while one caller talks to the only
agent and a second waits; when Redis is back and the agent is free, the second caller
is connected, not sent to the plan's fallback."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from peers.kamailio import Kamailio
from support.harness import wait_until
from support.phones import agent_phone, agent_state, caller_phone, set_state
from support.service import RunningService, start_service

PLAN = """plan: default
voice: en
start: welcome
nodes:
  welcome: {type: prompt, say: "One moment.", next: to_agent}
  to_agent: {type: transfer, queue: line, next: after, fallback: nobody}
  after: {type: hangup, say: "Thank you for calling."}
  nobody: {type: hangup, say: "Nobody can take your call."}
"""
CONFIG = """sip: {{rtp_timeout_seconds: 300}}
dialling:
  allow: ['^sip:6001@127\\.0\\.0\\.1:{port}$']
  extension_uri: "sip:{{extension}}@127.0.0.1:{port}"
agents:
  - {{id: a1, extension: "6001", queues: [line]}}
queues:
  line: {{whisper: false, wrap_up_seconds: 0, announce_every_seconds: 60}}
"""
AGENT_TALK_SECONDS = 16.0
# Longer than the place announcement plus the service's Redis reply timeout (2 s).
REDIS_STALL_SECONDS = 10.0


def events(service: RunningService, ticket: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    _, detail = service.api(f"/api/tickets/{ticket['id']}")
    return [e for e in detail["events"] if e["kind"] == kind]


def test_a_waiting_caller_rides_out_a_redis_stall_and_reaches_the_agent(
    pbx: Kamailio, stallable_redis: tuple[str, int], tmp_path: Path
) -> None:
    url, redis_pid = stallable_redis
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "default.yaml").write_text(PLAN)
    service = start_service(
        tmp_path / "service",
        plans,
        env={"REDIS_URL": url},
        config_text=CONFIG.format(port=pbx.port),
    )
    agent = agent_phone(pbx, "6001", tmp_path, talk_seconds=AGENT_TALK_SECONDS, answer_after=0.1)
    try:
        set_state(service, "a1", "available")
        first = caller_phone(service, "100", tmp_path, "7101")
        wait_until(lambda: agent_state(service, "a1")["state"] == "on_call", 30, "a1 on a call")
        second = caller_phone(service, "100", tmp_path, "7102")
        wait_until(
            lambda: service.api("/api/queues")[1]["queues"][0]["waiting"] == 1,
            30,
            "the second caller waiting in line",
        )
        os.kill(redis_pid, signal.SIGSTOP)
        try:
            time.sleep(REDIS_STALL_SECONDS)  # the stall itself
        finally:
            os.kill(redis_pid, signal.SIGCONT)
        first.wait_for("done", 60)
        second.wait_for("done", 90)
        [first_ticket] = service.tickets_of("7101", 1)
        [second_ticket] = service.tickets_of("7102", 1)
        assert first_ticket["agent_id"] == "a1"
        assert events(service, second_ticket, "queue_outage"), "the stall reached the caller"
        assert second_ticket["nodes"] == ["welcome", "to_agent", "after"]
        assert second_ticket["agent_id"] == "a1"
        assert second_ticket["disposition"] == "completed"
        assert not events(service, second_ticket, "transfer_failed")
    finally:
        agent.stop()
        service.stop()
