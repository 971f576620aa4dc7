"""Condition and set nodes: office hours by time zone and holidays, caller patterns, variables."""

from __future__ import annotations

from support.harness import REPO
from support.service import run_ivr

PLANS = REPO / "tests" / "plans"


def test_office_hours_cases_pass() -> None:
    result = run_ivr(
        "dialplan",
        "test",
        str(PLANS / "office_hours" / "default.yaml"),
        str(PLANS / "office_hours.cases.yaml"),
    )
    assert result.returncode == 0, result.stdout
    assert "6 passed, 0 failed" in result.stdout


def test_a_case_without_a_utc_offset_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n  - name: naive\n    time: '2026-11-23T10:00:00'\n")
    result = run_ivr("dialplan", "test", str(PLANS / "office_hours" / "default.yaml"), str(cases))
    assert result.returncode == 1
    assert "needs a UTC offset" in result.stderr  # a file that will not load is an error
