"""HTTP lookups from a plan, against the service's own API: simulated and over a real call."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from support.harness import REPO
from support.service import run_ivr, start_service
from support.sipp import run_sipp

PLANS = REPO / "tests" / "plans" / "ticket_status"


def test_a_caller_hears_the_status_of_a_ticket_looked_up_over_http(tmp_path: Path) -> None:
    service = start_service(tmp_path / "service", plans=PLANS)
    try:
        # Call 1 keys in ticket 1 (its own, still live: "live"); call 2 asks again.
        scenario = "collect_id_and_rate.xml"  # keys 123456# then 4: ticket 123456 is unknown
        assert (
            run_sipp(scenario, service.sip_uri_host, "1801", workdir=tmp_path / "call1").returncode
            == 0
        )
        [first] = service.tickets_of("1801", 1)
        assert first["nodes"] == ["ask_ticket", "lookup", "unknown", "goodbye"]
        assert first["variables"] == {"ticket": "123456"}
        failed = next(
            e
            for e in service.api(f"/api/tickets/{first['id']}")[1]["events"]
            if e["kind"] == "http_lookup"
        )
        assert failed["ok"] is False and "HTTP 404" in failed["error"]

        cases = tmp_path / "cases.yaml"
        api = f"http://127.0.0.1:{service.http_port}"
        opened = date.fromisoformat(first["started_at"][:10])
        spoken_day = f"{opened:%B} {opened.day}, {opened.year}"
        cases.write_text(
            "cases:\n"
            f"  - name: known ticket\n    values: {{service_api: '{api}'}}\n"
            f"    input: ['{first['id']}#']\n"
            "    expect:\n"
            "      path: [ask_ticket, lookup, status, goodbye]\n"
            "      variables: {ticket: '" + str(first["id"]) + "', status: completed, "
            f"opened: '{first['started_at']}'}}\n"
            "      heard: ['Please key in your ticket number, then press hash.', "
            f"'Ticket {' '.join(str(first['id']))}, opened {spoken_day}, is completed.', "
            "'Goodbye.']\n"
            f"  - name: the API is down\n    values: {{service_api: 'http://127.0.0.1:9'}}\n"
            "    input: ['7#']\n"
            "    expect: {path: [ask_ticket, lookup, unknown, goodbye]}\n"
        )
        result = run_ivr(
            "dialplan",
            "test",
            str(PLANS / "default.yaml"),
            str(cases),
            env={"IVR_API_TOKEN": service.token},
        )
        assert result.returncode == 0, result.stdout
    finally:
        assert service.stop() == 0
