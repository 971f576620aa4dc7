"""Prompts per language: the caller's choice decides what every later prompt says."""

from __future__ import annotations

from pathlib import Path

from support.harness import REPO
from support.service import run_ivr, start_service
from support.sipp import run_sipp

PLANS = REPO / "tests" / "plans"


def test_language_cases_pass() -> None:
    result = run_ivr(
        "dialplan",
        "test",
        str(PLANS / "languages" / "default.yaml"),
        str(PLANS / "languages.cases.yaml"),
    )
    assert result.returncode == 0, result.stdout
    assert "2 passed, 0 failed" in result.stdout


def test_a_caller_who_picks_chinese_hears_the_chinese_goodbye(tmp_path: Path) -> None:
    service = start_service(tmp_path / "service", plans=PLANS / "languages")
    try:
        result = run_sipp(
            "key2_rfc2833.xml", service.sip_uri_host, "1901", workdir=tmp_path / "sipp"
        )
        assert result.returncode == 0, result.errors
        [ticket] = service.tickets_of("1901", 1)
        assert ticket["variables"] == {"language": "zh"}
        events = service.api(f"/api/tickets/{ticket['id']}")[1]["events"]
        spoken = [(e["text"], e["voice"]) for e in events if e["kind"] == "prompt"]
        assert spoken == [("For English, press 1.", "en"), ("谢谢您的来电。", "cmn")]
    finally:
        assert service.stop() == 0
