"""Callbacks end to end: callers accept an offer at a peak, hang up, and are called back
by the service's dispatcher through Kamailio, with pjsua2 phones as agents and customers."""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from peers.kamailio import Kamailio
from support.audio import read_mono, read_stereo, tone_share
from support.harness import wait_until
from support.phones import (
    AGENT_TONE_HZ,
    CALLER_TONE_HZ,
    Phone,
    agent_phone,
    agent_state,
    caller_phone,
    set_state,
)
from support.service import RunningService, start_service
from support.sipp import finish_sipp, run_sipp, start_sipp

from callback.dispatch_settings import CallingHours
from callback.requests import CallbackRequests

PEAK_PLAN = """plan: default
voice: en
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
    fallback: sorry
  to_agent: {type: transfer, queue: helpdesk, next: bye, fallback: bye}
  sorry: {type: hangup, say: "Sorry."}
  bye: {type: hangup, say: "Goodbye."}
"""
CUSTOMER_FIRST_PLAN = """plan: customer-first
voice: en
match: {called: ["301"]}
start: offer
nodes:
  offer:
    type: callback
    queue: cf
    say: "Press 1 for a callback."
    confirm: "Press 1 to confirm."
    ask_number: "Key in a number."
    booked: "Booked."
    next: bye
    decline: bye
    fallback: sorry
  sorry: {type: hangup, say: "Sorry."}
  bye: {type: hangup, say: "Goodbye."}
"""
# The caller stays on the line after booking (the linger menu waits for a key).
LINGER_PLAN = """plan: linger
voice: en
match: {called: ["302"]}
start: offer
nodes:
  offer:
    type: callback
    queue: helpdesk
    say: "Press 1 for a callback."
    confirm: "Press 1 to confirm."
    ask_number: "Key in a number."
    booked: "Booked."
    next: linger
    decline: bye
    fallback: sorry
  linger: {type: menu, say: "Anything else?", keys: {"9": bye}, timeout: 10, tries: 1,
           fallback: bye}
  sorry: {type: hangup, say: "Sorry."}
  bye: {type: hangup, say: "Goodbye."}
"""
CONFIG = """sip: {{rtp_timeout_seconds: 300}}
dialling:
  allow:
    - '^sip:60\\d\\d@127\\.0\\.0\\.1:{port}$'
    - '^sip:80\\d\\d@127\\.0\\.0\\.1:{port}$'
  extension_uri: "sip:{{extension}}@127.0.0.1:{port}"
agents:
  - {{id: a1, extension: "6001", queues: [helpdesk]}}
  - {{id: a2, extension: "6002", queues: [cf]}}
queues:
  helpdesk: {{wrap_up_seconds: 0, average_handle_seconds: 60}}
  cf: {{wrap_up_seconds: 0, whisper: false}}
callbacks:
  number_uri: "sip:{{number}}@127.0.0.1:{port}"
  modes: {{helpdesk: agent_first, cf: customer_first}}
  max_attempts: 2
  backoff_seconds: [3]
  ring_timeout_seconds: 4
  key_wait_seconds: 3
  lease_seconds: 30
"""


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"ivrtest:{uuid.uuid4().hex[:8]}:"


@pytest.fixture(scope="module")
def service(
    pbx: Kamailio, prefix: str, shared_redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    plans = tmp_path_factory.mktemp("plans")
    (plans / "default.yaml").write_text(PEAK_PLAN)
    (plans / "customer-first.yaml").write_text(CUSTOMER_FIRST_PLAN)
    (plans / "linger.yaml").write_text(LINGER_PLAN)
    running = start_service(
        tmp_path_factory.mktemp("service"),
        plans,
        env={"IVR_REDIS_KEY_PREFIX": prefix, "REDIS_URL": shared_redis_url},
        config_text=CONFIG.format(port=pbx.port),
    )
    yield running
    running.stop()


def callback_events(service: RunningService, ticket_id: int, kind: str) -> list[dict[str, Any]]:
    _, detail = service.api(f"/api/tickets/{ticket_id}")
    return [e for e in detail["events"] if e["kind"] == kind]


def callbacks_of(service: RunningService, number: str) -> dict[str, Any]:
    _, body = service.api("/api/callbacks")
    return next(c for c in body["callbacks"] if c["number"] == number)


def booked_ticket(service: RunningService, number: str) -> dict[str, Any]:
    [ticket] = service.tickets_of(number, 1)
    assert ticket["nodes"][-2:] == ["offer", "bye"], ticket["nodes"]
    [requested] = callback_events(service, ticket["id"], "callback_requested")
    assert requested["number"] == number
    return ticket


def test_at_a_peak_callers_book_callbacks_and_are_called_back_in_line_order(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    agent = agent_phone(pbx, "6001", tmp_path, talk_seconds=10)
    customers = {
        number: agent_phone(pbx, number, tmp_path, talk_seconds=2, tone_hz=CALLER_TONE_HZ)
        for number in ("8001", "8002", "8003")
    }
    try:
        set_state(service, "a1", "available")
        first = caller_phone(service, "200", tmp_path, "7001")
        wait_until(lambda: agent_state(service, "a1")["state"] == "on_call", 30, "a1 busy")
        callers = []
        for number in customers:  # one after another, so their places are in this order
            callers.append(
                start_sipp(
                    "accept_callback.xml",
                    service.sip_uri_host,
                    number,
                    service_number="200",
                    timeout=60,
                    workdir=tmp_path / f"sipp-{number}",
                )
            )
            time.sleep(1.5)
        for number, process in zip(customers, callers, strict=True):
            result = finish_sipp(process, tmp_path / f"sipp-{number}", 90)
            assert result.returncode == 0, result.errors
        first.wait_for("done", 60)
        wait_until(
            lambda: all(callbacks_of(service, n)["state"] == "done" for n in customers),
            90,
            "every callback done",
        )
    finally:
        agent.stop()
        for customer in customers.values():
            customer.stop()

    connected_at = {}
    for number in customers:
        ticket = booked_ticket(service, number)
        assert ticket["disposition"] == "completed"
        [attempt] = callback_events(service, ticket["id"], "callback_attempt")
        assert attempt["outcome"] == "connected" and attempt["agent"] == "a1"
        assert attempt["mode"] == "agent_first"
        assert callback_events(service, ticket["id"], "callback_connected")
        connected_at[number] = attempt["at"]
    assert sorted(connected_at, key=connected_at.get) == list(customers), connected_at  # type: ignore[arg-type]

    [customer_call] = customers["8001"].of_kind("ended")
    agent_calls = {e["call"]: e for e in agent.of_kind("ended")}
    assert tone_share(read_mono(Path(customer_call["recording"])), AGENT_TONE_HZ) > 0.8
    # the agent's first call was the live caller, the second the callback to 8001
    assert tone_share(read_mono(Path(agent_calls[2]["recording"])), CALLER_TONE_HZ) > 0.8


def test_customer_first_connects_only_after_the_key_and_retries_those_who_do_not_press(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    agent = agent_phone(pbx, "6002", tmp_path, talk_seconds=5)
    presses = agent_phone(pbx, "8004", tmp_path, dtmf={"digits": "1", "after": 1.5})
    silent = agent_phone(pbx, "8005", tmp_path, talk_seconds=20)
    never_answers = agent_phone(pbx, "8006", tmp_path, answer=False)
    try:
        set_state(service, "a2", "available")
        bookings = {
            number: start_sipp(
                "accept_callback.xml",
                service.sip_uri_host,
                number,
                service_number="301",
                timeout=60,
                workdir=tmp_path / f"sipp-{number}",
            )
            for number in ("8004", "8005", "8006")
        }
        for number, booking in bookings.items():
            result = finish_sipp(booking, tmp_path / f"sipp-{number}", 90)
            assert result.returncode == 0, result.errors
        wait_until(
            lambda: (
                callbacks_of(service, "8004")["state"] == "done"
                and callbacks_of(service, "8005")["state"] == "failed"
                and callbacks_of(service, "8006")["state"] == "failed"
            ),
            120,
            "callbacks done or given up",
        )
    finally:
        for phone in (agent, presses, silent, never_answers):
            phone.stop()

    ticket = booked_ticket(service, "8004")
    [attempt] = callback_events(service, ticket["id"], "callback_attempt")
    assert attempt["outcome"] == "connected" and attempt["mode"] == "customer_first"
    pressed_at = presses.wait_for("dtmf")
    assert agent.wait_for("incoming"), "the agent was rung"
    assert presses.of_kind("answered") and pressed_at

    for number, outcome in (("8005", "no_key"), ("8006", "no_answer")):
        ticket = booked_ticket(service, number)
        attempts = callback_events(service, ticket["id"], "callback_attempt")
        assert [a["outcome"] for a in attempts] == [outcome, outcome], attempts
        assert attempts[-1]["state"] == "failed"
        assert attempts[0]["next_at"].endswith("Z"), attempts  # ISO 8601 like every API time
        assert datetime.fromisoformat(attempts[0]["next_at"]) > datetime.now(UTC) - timedelta(1)
    assert not agent_calls_from(agent, "8005") and not agent_calls_from(agent, "8006")


def agent_calls_from(agent: Phone, number: str) -> list[dict[str, Any]]:
    return [e for e in agent.of_kind("incoming") if number in e["remote"]]


def test_a_number_outside_the_allowed_patterns_is_never_dialled(
    service: RunningService, prefix: str, shared_redis_url: str, tmp_path: Path
) -> None:
    # The caller's own number may not be called back: they are asked for another,
    # key none, and no callback is booked.
    result = run_sipp(
        "accept_callback.xml",
        service.sip_uri_host,
        "9001",
        service_number="301",
        timeout=60,
        workdir=tmp_path / "sipp",
    )
    assert result.returncode == 0, result.errors
    [ticket] = service.tickets_of("9001", 1)
    assert ticket["nodes"] == ["offer", "sorry"]
    assert callback_events(service, ticket["id"], "callback_number_refused")

    # A request that reached the queue some other way is refused by the dispatcher.
    async def request_directly() -> str:
        client = aioredis.Redis.from_url(shared_redis_url, decode_responses=True)
        try:
            return await CallbackRequests(client, prefix).request("9002", "cf", time.time())
        finally:
            await client.aclose()

    request_id = asyncio.run(request_directly())
    wait_until(
        lambda: callbacks_of(service, "9002")["state"] == "failed", 30, "the request refused"
    )
    refused = callbacks_of(service, "9002")
    assert refused["id"] == request_id
    assert [a["outcome"] for a in refused["history"]] == ["refused"]


def at_of(when: str) -> float:
    return datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()


def test_a_caller_still_on_the_line_is_called_back_after_hanging_up_another_number_at_once(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    """8011 books its own number and stays on the line; 8012 books 8013's. 8013 is
    called (and talks) while 8012 is still on the line; 8011 only once its call ended.
    Both count as completed, and each ticket's timeline has its attempt in time order,
    the leg to the customer recorded."""
    agent = agent_phone(pbx, "6001", tmp_path, talk_seconds=30)  # the customers hang up
    own = agent_phone(pbx, "8011", tmp_path, talk_seconds=2, tone_hz=CALLER_TONE_HZ)
    other = agent_phone(pbx, "8013", tmp_path, talk_seconds=2, tone_hz=CALLER_TONE_HZ)
    since = time.time()
    try:
        set_state(service, "a1", "available")
        bookings = {
            number: start_sipp(
                scenario,
                service.sip_uri_host,
                number,
                service_number="302",
                timeout=60,
                workdir=tmp_path / f"sipp-{number}",
            )
            for number, scenario in (
                ("8011", "accept_callback.xml"),
                ("8012", "accept_callback_other_number.xml"),
            )
        }
        own.wait_for("incoming", 60)
        own_rung_at = time.time()
        for number, booking in bookings.items():
            result = finish_sipp(booking, tmp_path / f"sipp-{number}", 90)
            assert result.returncode == 0, result.errors
        wait_until(lambda: callbacks_of(service, "8011")["state"] == "done", 60, "8011 done")
    finally:
        for phone in (agent, own, other):
            phone.stop()

    [own_ticket] = service.tickets_of("8011", 1)
    assert own_rung_at > at_of(own_ticket["ended_at"]), "rung while its booking call was up"
    [other_ticket] = service.tickets_of("8012", 1)
    _, stats = service.api(f"/api/stats?from={since}&to={time.time()}")
    assert (stats["callbacks_requested"], stats["callbacks_completed"]) == (2, 2), stats

    for ticket, customer_tone_at in ((own_ticket, "after"), (other_ticket, "during")):
        _, detail = service.api(f"/api/tickets/{ticket['id']}")
        events = [at_of(e["at"]) for e in detail["events"]]
        assert events == sorted(events)
        call, attempt = detail["timeline"]
        assert (call["section"], attempt["section"]) == ("call", "callback_attempt")
        assert attempt["outcome"] == "connected" and attempt["attempt"] == 1
        kinds = [e["kind"] for e in attempt["events"]]
        assert kinds[:4] == [
            "callback_agent_rung",
            "callback_agent_answered",
            "callback_dialling",  # written ahead, before the INVITE left
            "callback_customer_answered",
        ], kinds
        assert kinds[-3:] == ["callback_hung_up", "callback_attempt", "callback_connected"]
        dialled = at_of(attempt["events"][2]["at"])
        ended = at_of(call["ended_at"])
        assert (dialled > ended) == (customer_tone_at == "after"), (dialled, ended)
        url = f"http://127.0.0.1:{service.http_port}{attempt['recording_url']}"
        request = urllib.request.Request(url, headers=service.auth_headers())
        with urllib.request.urlopen(request, timeout=10) as served:
            assert served.read() == Path(attempt["recording"]).read_bytes()
        customer_said, agent_said, seconds = read_stereo(Path(attempt["recording"]))
        assert seconds >= 1.5  # the two seconds they talked
        assert tone_share(customer_said, CALLER_TONE_HZ) > 0.8
        assert tone_share(agent_said, AGENT_TONE_HZ) > 0.8


def test_calling_hours_move_a_retry_to_the_next_opening() -> None:
    hours = CallingHours(
        timezone="Asia/Shanghai", weekdays=frozenset(range(5)), opens="09:00", closes="18:00"
    )
    shanghai = ZoneInfo("Asia/Shanghai")

    def at(day: int, hour: int, minute: int = 0) -> float:
        return datetime(2026, 11, day, hour, minute, tzinfo=shanghai).timestamp()

    assert hours.next_allowed(at(20, 17, 20)) == at(20, 17, 20)  # Friday, open
    assert hours.next_allowed(at(20, 18, 30)) == at(23, 9)  # Friday after closing
    assert hours.next_allowed(at(21, 12)) == at(23, 9)  # Saturday
    assert hours.next_allowed(at(23, 7)) == at(23, 9)  # Monday before opening
    always = CallingHours()
    moments = [time.time() + n * 0.1234567 for n in range(2000)]
    assert all(always.next_allowed(m) == m for m in moments), "inside the hours means now"


def test_a_pending_callback_is_cancelled_by_the_api_or_by_calling_again(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    set_state(service, "a2", "offline")  # nobody can take callbacks of queue cf
    for number in ("8007", "8008"):
        result = run_sipp(
            "accept_callback.xml",
            service.sip_uri_host,
            number,
            service_number="301",
            timeout=60,
            workdir=tmp_path / f"sipp-{number}",
        )
        assert result.returncode == 0, result.errors
    pending = callbacks_of(service, "8007")
    assert pending["state"] == "pending"

    status, body = service.api(
        f"/api/callbacks/{pending['id']}/priority", "POST", {"priority_seconds": "x"}
    )
    assert status == 400 and "priority_seconds" in body["error"]
    status, _ = service.api(
        f"/api/callbacks/{pending['id']}/priority", "POST", {"priority_seconds": 60}
    )
    assert status == 200
    status, body = service.api(
        f"/api/callbacks/{pending['id']}/cancel", "POST", {"reason": "fixed"}
    )
    assert status == 200 and body["state"] == "cancelled"
    status, _ = service.api(f"/api/callbacks/{pending['id']}/cancel", "POST")
    assert status == 409
    assert service.api("/api/callbacks/nope/cancel", "POST")[0] == 404
    _, listing = service.api("/api/callbacks?state=cancelled")
    assert [c["number"] for c in listing["callbacks"]] == ["8007"]
    assert listing["counts"]["cancelled"] == 1

    # 8008 calls again and reaches an agent: the callback it was waiting for is cancelled.
    agent = agent_phone(pbx, "6001", tmp_path, talk_seconds=1)
    try:
        set_state(service, "a1", "available")
        caller = caller_phone(service, "200", tmp_path, "8008")
        caller.wait_for("done", 60)
    finally:
        agent.stop()
    tickets = service.tickets_of("8008", 2)
    again = next(t for t in tickets if t["agent_id"] == "a1")
    assert again["variables"]["callback_pending"] == "yes"
    assert callback_events(service, again["id"], "callback_cancelled")
    assert callbacks_of(service, "8008")["state"] == "cancelled"
