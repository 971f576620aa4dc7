"""Collecting an employee number and a satisfaction score: simulated and over a real call."""

from __future__ import annotations

from pathlib import Path

from support.harness import REPO
from support.service import run_ivr, start_service
from support.sipp import run_sipp

PLANS = REPO / "tests" / "plans" / "collect_and_survey"


def test_cases_for_collect_and_survey_pass() -> None:
    result = run_ivr(
        "dialplan",
        "test",
        str(PLANS / "default.yaml"),
        str(REPO / "tests" / "plans" / "collect_and_survey.cases.yaml"),
    )
    assert result.returncode == 0, result.stdout
    assert "5 passed, 0 failed" in result.stdout


def test_caller_keys_in_an_id_and_rates_the_call_and_both_land_on_the_ticket(
    tmp_path: Path,
) -> None:
    service = start_service(tmp_path / "service", plans=PLANS)
    try:
        result = run_sipp(
            "collect_id_and_rate.xml", service.sip_uri_host, "1401", workdir=tmp_path / "sipp"
        )
        assert result.returncode == 0, result.errors
        [ticket] = service.tickets_of("1401", 1)
        assert ticket["nodes"] == ["ask_id", "rate", "goodbye"]
        assert ticket["variables"] == {"employee_id": "123456"}
        assert ticket["satisfaction"] == 4
        assert ticket["keys"] == "123456#4"
        assert ticket["disposition"] == "completed"
    finally:
        assert service.stop() == 0
