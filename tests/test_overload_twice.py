"""Twice a node's capacity, at a size the suite affords (issue 20): the overload bench
(``bench/overload.py``) runs a node of two workers of ``sip.max_calls`` 8 each (16 calls)
and places 32 overlapping SIPp calls that press 1. Every INVITE is answered and completes
with its key and exactly one ticket, or is refused with 503 before it is answered."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

# Loads or times a whole node: make test runs it alone, after the rest (serial).
pytestmark = pytest.mark.serial

REPO = Path(__file__).resolve().parents[1]
MAX_CALLS_PER_WORKER = 8
WORKERS = 2
CALLS = 2 * WORKERS * MAX_CALLS_PER_WORKER


def test_at_twice_its_capacity_a_node_completes_or_refuses_every_call() -> None:
    bench = subprocess.run(
        [
            sys.executable,
            "bench/overload.py",
            "--workers",
            str(WORKERS),
            "--max-calls",
            str(MAX_CALLS_PER_WORKER),
            "--steps",
            f"{CALLS}:6:16",  # all arrive within 2 s and overlap
            "--rates",
            "",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=400,
    )
    report = bench.stdout + bench.stderr
    # The bench's own verdict: no call failed, tickets equal answered calls, each with its
    # key, no duplicate Call-ID.
    assert bench.returncode == 0, report
    found = re.search(r"(\d+) answered, (\d+) refused \(503\), (\d+) failed", report)
    assert found, report
    answered, refused, failed = (int(n) for n in found.groups())
    assert failed == 0 and answered + refused == CALLS, report
    assert 1 <= answered <= WORKERS * MAX_CALLS_PER_WORKER, report
    assert refused >= CALLS - WORKERS * MAX_CALLS_PER_WORKER, report
