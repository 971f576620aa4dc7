"""The ticket API on a real service over SQLite and PostgreSQL: search, CSV export,
agents working a ticket after the call."""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from support.databases import DATABASES
from support.sipp import run_sipp
from support.tickets import Seed, ServiceOnDatabase, seed_tickets, service_on

from ivr.tickets.model import Disposition, Handling

BASE = 1_600_000_200.0


@pytest.fixture(scope="module", params=DATABASES)
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceOnDatabase]:
    on = service_on(request.param, tmp_path_factory.mktemp(f"api-{request.param}"), request)
    yield on
    on.service.stop()


@pytest.fixture(scope="module")
def seeded(running: ServiceOnDatabase) -> list[int]:
    return seed_tickets(
        running.database_url,
        [
            Seed("8801", BASE, variables={"employee_id": "E1"}, handling=Handling("vpn", "net")),
            Seed(
                "8801",
                BASE + 100,
                Disposition.ABANDONED,
                {"employee_id": "E2"},
                Handling("password", "it", 40.0),
            ),
            Seed(
                "8802",
                BASE + 200,
                handling=Handling("vpn", "it", 5.0, "agent7", 1, 60.0, "bridge"),
                utterances=(("我的VPN连不上, 100% 断线", "vpn"),),
            ),
        ],
    )


def raw(
    running: ServiceOnDatabase, path: str, method: str = "GET", data: bytes | None = None
) -> tuple[int, Message, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{running.service.http_port}{path}",
        data=data,
        method=method,
        headers=running.service.auth_headers(),
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def ids(running: ServiceOnDatabase, query: str) -> list[int]:
    status, body = running.service.api(f"/api/tickets?{query}")
    assert status == 200, body
    assert body["total"] >= len(body["tickets"])
    return [t["id"] for t in body["tickets"]]


def test_search_filters_by_each_field(running: ServiceOnDatabase, seeded: list[int]) -> None:
    a, b, c = seeded
    assert ids(running, "caller=8801") == [b, a]
    assert ids(running, "employee=E2") == [b]
    assert ids(running, "intent=vpn") == [c, a]
    assert ids(running, "queue=it") == [c, b]
    assert ids(running, "agent=agent7") == [c]
    assert ids(running, "disposition=abandoned&caller=8801") == [b]
    assert ids(running, f"since={BASE + 100}&until={BASE + 200}") == [b]
    assert ids(running, "since=2020-09-13T12:31:40Z&until=2020-09-13T12:40:00") == [c, b]
    assert ids(running, "q=" + quote("连不上")) == [c]
    assert ids(running, "q=100%25") == [c]
    assert ids(running, "caller=8801&limit=1&offset=1") == [a]
    _, body = running.service.api("/api/tickets?caller=8801&limit=1")
    assert body["total"] == 2 and body["limit"] == 1


def test_csv_export_takes_the_same_filters(running: ServiceOnDatabase, seeded: list[int]) -> None:
    status, headers, data = raw(running, f"/api/tickets.csv?since={BASE}&until={BASE + 300}")
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert [int(r["id"]) for r in rows] == seeded[::-1]
    by_id = {int(r["id"]): r for r in rows}
    assert by_id[seeded[2]]["agent_id"] == "agent7"
    assert by_id[seeded[2]]["transfer_method"] == "bridge"
    assert by_id[seeded[0]]["employee_id"] == "E1"
    assert by_id[seeded[1]]["disposition"] == "abandoned"
    assert by_id[seeded[0]]["started_at"] == "2020-09-13T12:30:00.000Z"

    _, _, data = raw(running, "/api/tickets.csv?intent=vpn&caller=8801")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert [int(r["id"]) for r in rows] == [seeded[0]]
    status, _, data = raw(running, "/api/tickets.csv?disposition=maybe")
    assert status == 400 and "disposition must be one of" in json.loads(data)["error"]


def test_agent_works_the_ticket_of_a_real_call(running: ServiceOnDatabase, tmp_path: Path) -> None:
    service = running.service
    call = run_sipp("menu_key1_rfc2833.xml", service.sip_uri_host, "8803", workdir=tmp_path)
    assert call.returncode == 0, call.output
    [ticket] = service.tickets_of("8803", 1)
    assert ticket["work_status"] == "open" and ticket["assignee"] is None
    path = f"/api/tickets/{ticket['id']}"

    status, body = service.api(
        path,
        "PATCH",
        {"work_status": "in_progress", "assignee": "alice", "note": "token reset", "author": "al"},
    )
    assert status == 200, body
    assert body["work_status"] == "in_progress" and body["assignee"] == "alice"
    assert [(n["text"], n["author"]) for n in body["notes"]] == [("token reset", "al")]
    status, body = service.api(path, "PATCH", {"note": "user confirmed", "work_status": "resolved"})
    assert status == 200
    status, body = service.api(path)
    assert body["work_status"] == "resolved" and body["assignee"] == "alice"
    assert [n["text"] for n in body["notes"]] == ["token reset", "user confirmed"]
    assert body["disposition"] == "completed" and body["events"]  # the call's record is intact
    assert ids(running, "work_status=resolved&assignee=alice") == [ticket["id"]]
    status, body = service.api(path, "PATCH", {"assignee": None})
    assert status == 200 and body["assignee"] is None


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"work_status": "done"}, "work_status must be one of open, in_progress, resolved"),
        ({"work_status": 3}, "work_status must be one of"),
        ({"assignee": ""}, "assignee must be non-empty text"),
        ({"assignee": "x" * 201}, "assignee must be at most 200 characters"),
        ({"note": 5}, "note must be non-empty text"),
        ({"author": "al"}, "author goes with a note"),
        ({"colour": "blue"}, "unknown field 'colour'"),
        ({}, "nothing to change"),
        ([1, 2], "body must be a JSON object"),
    ],
)
def test_bad_update_gets_400_with_the_reason(
    running: ServiceOnDatabase, seeded: list[int], body: Any, complaint: str
) -> None:
    status, answer = running.service.api(f"/api/tickets/{seeded[0]}", "PATCH", body)
    assert status == 400
    assert complaint in answer["error"]


def test_update_errors_for_unknown_tickets_and_broken_bodies(
    running: ServiceOnDatabase, seeded: list[int]
) -> None:
    status, body = running.service.api("/api/tickets/99999999", "PATCH", {"note": "x"})
    assert status == 404 and body["error"] == "no ticket 99999999"
    status, _, data = raw(running, f"/api/tickets/{seeded[0]}", "PATCH", b"{not json")
    assert status == 400 and json.loads(data)["error"] == "body must be JSON"
    assert running.service.api("/api/tickets/abc", "PATCH", {"note": "x"})[0] == 400


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ("until=soon", "until must be an ISO 8601 time"),
        ("since=200&until=100", "since must not be after until"),
        ("work_status=closed", "work_status must be one of open, in_progress, resolved"),
        ("q=" + "x" * 201, "q must be at most 200 characters"),
        ("agent_id=7", "unknown parameter 'agent_id'"),
    ],
)
def test_bad_search_gets_400_with_the_reason(
    running: ServiceOnDatabase, query: str, complaint: str
) -> None:
    status, body = running.service.api(f"/api/tickets?{query}")
    assert status == 400
    assert complaint in body["error"]
