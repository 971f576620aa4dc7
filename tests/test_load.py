"""Many calls at once through the menu."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.service import start_service
from support.sipp import run_sipp

# Loads or times a whole node: make test runs it alone, after the rest (serial).
pytestmark = pytest.mark.serial

CONCURRENT_CALLS = 100


def test_hundred_concurrent_calls_are_all_answered_and_ticketed(tmp_path: Path) -> None:
    service = start_service(tmp_path / "service")
    try:
        result = run_sipp(
            "menu_key1_rfc2833.xml",
            service.sip_uri_host,
            "4100",
            calls=CONCURRENT_CALLS,
            rate=50,
            concurrent=CONCURRENT_CALLS,
            workdir=tmp_path / "sipp",
            timeout=120,
        )
        assert result.returncode == 0, result.errors[-3000:]
        # All were live together: the scenario lasts ~10 s, started within 2 s.
        tickets = service.tickets_of("4100", CONCURRENT_CALLS, timeout=60)
        assert len(tickets) == CONCURRENT_CALLS
        assert {t["disposition"] for t in tickets} == {"completed"}
        assert {t["keys"] for t in tickets} == {"1"}
        assert len({t["call_id"] for t in tickets}) == CONCURRENT_CALLS
    finally:
        assert service.stop() == 0
    log = service.log_text()
    assert " ERROR " not in log and "Traceback" not in log, log[-3000:]
