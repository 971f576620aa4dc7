"""GET /api/stats on a real service over SQLite and PostgreSQL: every figure agrees
with the tickets, from seeded tickets and from a real SIP call."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.databases import DATABASES
from support.sipp import run_sipp
from support.tickets import Seed, ServiceOnDatabase, seed_tickets, service_on

from ivr.tickets.model import Disposition, Handling
from ivr.tickets.stats import group_utterances

SLOT = 900.0
BASE = 1_600_000_200.0 - (1_600_000_200.0 % SLOT)  # a 15-minute boundary in 2020
CB_REQ, CB_DONE = "callback_requested", "callback_connected"
ABANDONED, FAILED = Disposition.ABANDONED, Disposition.FAILED


def agent(intent: str, wait: float, transfer: str | None = None) -> Handling:
    return Handling(intent, "it", wait, "agent1", 1, 120.0, transfer)


SEEDS = [
    # Self-service: completed, no agent, no transfer, no callback asked for (9903 did).
    Seed("9901", BASE + 10, satisfaction=5, handling=Handling("password")),
    Seed("9902", BASE + 20, utterances=(("reset my vpn token", None), ("vpn", "vpn"))),
    Seed("9903", BASE + 950, utterances=(("Reset my VPN token!", None),), event_kinds=(CB_REQ,)),
    # Reached an agent.
    Seed("9904", BASE + 960, satisfaction=4, handling=agent("vpn", 10.0, "bridge")),
    Seed("9905", BASE + 970, handling=agent("vpn", 20.0)),
    Seed("9906", BASE + 980, satisfaction=2, handling=agent("password", 30.0, "refer")),
    Seed("9907", BASE + 2000, handling=agent("printer", 40.0), event_kinds=(CB_REQ, CB_DONE)),
    Seed("9908", BASE + 2001, handling=agent("vpn", 100.0)),
    # Left while queued: a wait, no agent.
    Seed("9909", BASE + 2002, ABANDONED, handling=Handling("vpn", "it", 50.0)),
    Seed("9910", BASE + 2003, ABANDONED, utterances=(("打印机卡纸了", None),) * 2),
    Seed(
        "9911",
        BASE + 2004,
        FAILED,
        utterances=(("打印机卡纸", None), ("reset vpn token please", None)),
    ),
    Seed(
        "9912", BASE + 2005, event_kinds=(CB_REQ,), utterances=(("how do I install teams", None),)
    ),
    # Outside the range: must not count.
    Seed("9913", BASE - 1, satisfaction=1, handling=agent("vpn", 999.0)),
    Seed("9914", BASE + 3600, ABANDONED, event_kinds=(CB_REQ,)),
]


@pytest.fixture(scope="module", params=DATABASES)
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceOnDatabase]:
    on = service_on(request.param, tmp_path_factory.mktemp(f"stats-{request.param}"), request)
    seed_tickets(on.database_url, SEEDS)
    yield on
    on.service.stop()


def stats(running: ServiceOnDatabase, since: float, until: float) -> dict[str, Any]:
    status, body = running.service.api(f"/api/stats?from={since}&to={until}")
    assert status == 200, body
    return dict(body)


def test_figures_over_seeded_tickets(running: ServiceOnDatabase) -> None:
    body = stats(running, BASE, BASE + 3600)
    assert body["calls"] == 12
    assert (body["completed"], body["abandoned"], body["failed"], body["live"]) == (9, 2, 1, 0)
    assert body["self_service"] == 2  # 9901, 9902; 9903 and 9912 asked for a callback
    assert body["self_service_rate"] == 2 / 12
    assert body["transferred"] == 2 and body["transfer_rate"] == 2 / 12
    assert body["abandonment_rate"] == 2 / 12
    assert body["reached_agent"] == 5
    assert (body["callbacks_requested"], body["callbacks_completed"]) == (3, 1)
    assert body["average_speed_of_answer_seconds"] == (10 + 20 + 30 + 40 + 100) / 5
    # Waits 10 20 30 40 50 100: nearest rank 3 of 6 and 6 of 6.
    assert (body["queued"], body["wait_p50_seconds"], body["wait_p90_seconds"]) == (6, 30, 100)
    assert body["satisfaction_average"] == (5 + 4 + 2) / 3
    assert body["satisfaction_responses"] == 3
    assert body["top_intents"] == [
        {"intent": "vpn", "calls": 4},
        {"intent": "password", "calls": 2},
        {"intent": "printer", "calls": 1},
    ]
    assert body["calls_per_15_minutes"] == [
        {"at": "2020-09-13T12:30:00.000Z", "calls": 2},
        {"at": "2020-09-13T12:45:00.000Z", "calls": 4},
        {"at": "2020-09-13T13:00:00.000Z", "calls": 6},
    ]
    assert body["unrecognised_utterances"] == 7
    assert [(g["text"], g["count"]) for g in body["unrecognised_groups"]] == [
        ("Reset my VPN token!", 3),  # equal counts: the newest spelling shows
        ("打印机卡纸了", 3),
        ("how do I install teams", 1),
    ]


def test_figures_agree_with_a_ticket_search(running: ServiceOnDatabase) -> None:
    since, until = BASE + 960, BASE + 2003  # part of the seeded range
    body = stats(running, since, until)
    _, search = running.service.api(f"/api/tickets?since={since}&until={until}&limit=500")
    tickets = search["tickets"]
    assert body["calls"] == search["total"] == len(tickets) == 6
    assert body["abandoned"] == sum(t["disposition"] == "abandoned" for t in tickets)
    waits = [t["wait_seconds"] for t in tickets if t["agent_id"] is not None]
    assert body["average_speed_of_answer_seconds"] == sum(waits) / len(waits)
    assert body["self_service"] == sum(
        t["disposition"] == "completed" and t["agent_id"] is None and t["transfer_method"] is None
        for t in tickets
    )


def test_a_real_call_shows_in_the_figures(running: ServiceOnDatabase, tmp_path: Path) -> None:
    before = time.time() - 1
    call = run_sipp("menu_key1_rfc2833.xml", running.service.sip_uri_host, "9920", workdir=tmp_path)
    assert call.returncode == 0, call.output
    [ticket] = running.service.tickets_of("9920", 1)
    body = stats(running, before, time.time() + 1)
    assert body["calls"] == 1 and body["completed"] == 1
    assert body["self_service"] == 1 and body["self_service_rate"] == 1.0
    assert sum(slot["calls"] for slot in body["calls_per_15_minutes"]) == 1
    assert ticket["agent_id"] is None and ticket["transfer_method"] is None


def test_default_range_and_bad_parameters(running: ServiceOnDatabase) -> None:
    status, body = running.service.api("/api/stats")
    assert status == 200 and body["calls"] >= 0 and body["to"] > body["from"]
    for query, complaint in [
        ("from=later", "from must be an ISO 8601 time"),
        ("from=200&to=100", "from must not be after to"),
        ("since=1", "unknown parameter 'since'"),
    ]:
        status, body = running.service.api(f"/api/stats?{query}")
        assert status == 400 and complaint in body["error"], (query, body)


def test_similar_utterances_group_together() -> None:
    groups = group_utterances(
        ["我要重置密码", "我要重置密码。", "重置密码", "wifi is down", "WiFi is down!!", "打印机"]
    )
    assert [(g.text, g.count) for g in groups] == [
        ("我要重置密码", 3),
        ("wifi is down", 2),
        ("打印机", 1),
    ]
    assert groups[0].variants == ("重置密码",)
    assert group_utterances([]) == ()
