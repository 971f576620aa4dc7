"""Sub-flows: a goto continues the call in another plan."""

from __future__ import annotations

from pathlib import Path

from support.harness import REPO
from support.service import run_ivr, start_service

PLANS = REPO / "tests" / "plans"


def test_subflow_cases_pass() -> None:
    result = run_ivr(
        "dialplan",
        "test",
        str(PLANS / "subflow" / "default.yaml"),
        str(PLANS / "subflow.cases.yaml"),
    )
    assert result.returncode == 0, result.stdout
    assert "2 passed, 0 failed" in result.stdout


def test_a_goto_to_a_missing_plan_is_reported_by_the_service(tmp_path: Path) -> None:
    service = start_service(tmp_path / "service", plans=PLANS / "subflow")
    try:
        errors = service.api("/api/dialplans")[1]["errors"]
        default_file = str(PLANS / "subflow" / "default.yaml")
        assert list(errors) == [default_file]
        [message] = errors[default_file]
        assert message == (f"{default_file}:12:11: goto 'broken' leads to a missing plan 'nowhere'")
        names = [p["name"] for p in service.api("/api/dialplans")[1]["plans"]]
        assert names == ["default", "feedback"]
    finally:
        assert service.stop() == 0
