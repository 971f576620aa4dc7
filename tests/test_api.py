"""The HTTP API on a real service: health, live calls, ticket search, clear 4xx errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.service import RunningService
from support.sipp import run_sipp


def test_health_reports_worker_plans_and_redis(service: RunningService) -> None:
    status, body = service.api("/api/health")
    assert status == 200
    assert body["status"] == "ok"
    assert body["accepting_calls"] is True
    assert body["redis"] == "ok"
    assert [p["name"] for p in body["plans"]] == ["default", "it-helpdesk.en", "it-helpdesk.zh"]
    assert body["registrations"] == []


def test_ticket_filters_by_caller_disposition_and_time(
    service: RunningService, tmp_path: Path
) -> None:
    assert (
        run_sipp(
            "menu_key1_rfc2833.xml", service.sip_uri_host, "7001", workdir=tmp_path / "a"
        ).returncode
        == 0
    )
    assert (
        run_sipp(
            "hangup_during_prompt.xml", service.sip_uri_host, "7001", workdir=tmp_path / "b"
        ).returncode
        == 0
    )
    tickets = service.tickets_of("7001", 2)
    assert [t["disposition"] for t in tickets] == ["abandoned", "completed"]  # newest first

    _, body = service.api("/api/tickets?caller=7001&disposition=abandoned")
    assert [t["id"] for t in body["tickets"]] == [tickets[0]["id"]]
    _, body = service.api(f"/api/tickets?caller=7001&since={tickets[0]['started_at']}")
    assert [t["id"] for t in body["tickets"]] == [tickets[0]["id"]]
    _, body = service.api("/api/tickets?caller=7001&limit=1&offset=1")
    assert [t["id"] for t in body["tickets"]] == [tickets[1]["id"]]
    _, body = service.api("/api/tickets?caller=nobody")
    assert body["tickets"] == []


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ("disposition=maybe", "disposition must be one of"),
        ("since=yesterday", "since must be an ISO 8601 time"),
        ("limit=0", "limit must be a whole number from 1 to 500"),
        ("limit=-5", "limit must be a whole number"),
        ("offset=x", "offset must be a whole number"),
        ("colour=blue", "unknown parameter 'colour'"),
    ],
)
def test_bad_ticket_query_gets_400_with_the_reason(
    service: RunningService, query: str, complaint: str
) -> None:
    status, body = service.api(f"/api/tickets?{query}")
    assert status == 400
    assert complaint in body["error"]


def test_ticket_lookup_errors(service: RunningService) -> None:
    assert service.api("/api/tickets/abc")[0] == 400
    status, body = service.api("/api/tickets/99999999")
    assert status == 404 and body["error"] == "no ticket 99999999"
    status, body = service.api("/api/nothing-here")
    assert status == 404 and "error" in body


def test_live_calls_lists_a_call_in_progress(service: RunningService, tmp_path: Path) -> None:
    from support.harness import wait_until
    from support.sipp import finish_sipp, start_sipp

    call = start_sipp("menu_key1_rfc2833.xml", service.sip_uri_host, "7002", workdir=tmp_path)
    try:
        calls = wait_until(
            lambda: [
                c for c in service.api("/api/calls")[1]["calls"] if c["caller_number"] == "7002"
            ],
            10,
            "the live call",
        )
        assert calls[0]["called_number"] == "100"
        assert calls[0]["plan"] == "default"
        assert calls[0]["ticket_id"] > 0
    finally:
        assert finish_sipp(call, tmp_path, 60).returncode == 0
    wait_until(
        lambda: (
            not [c for c in service.api("/api/calls")[1]["calls"] if c["caller_number"] == "7002"]
        ),
        10,
        "the call to leave the live list",
    )
