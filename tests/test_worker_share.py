"""Workers that outnumber the node's CPU cores share the rate of new calls the cores
take (``workers.cores``): a burst of new calls is CPU work, and on two cores four
workers each taking the full rate damaged calls where two did not."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.nodes import running_node

# Loads or times a whole node: make test runs it alone, after the rest (serial).
pytestmark = pytest.mark.serial

WORKERS = 3
CORES = 2
PER_WORKER = 6  # sip.max_new_calls_per_second: what one worker with a core of its own takes


def test_workers_beyond_the_cores_share_the_new_call_rate(
    tmp_path: Path, shared_redis_url: str
) -> None:
    settings = {"IVR_WORKERS_CORES": str(CORES), "IVR_MAX_NEW_CALLS_PER_SECOND": str(PER_WORKER)}
    database = f"sqlite:///{tmp_path / 'tickets.db'}"
    with running_node(
        tmp_path / "node", WORKERS, "share", shared_redis_url, database, settings
    ) as n:
        rates = [
            n.api("/api/health", worker)[1]["headroom"]["max_new_calls_per_second"]
            for worker in range(1, WORKERS + 1)
        ]
    assert rates == [PER_WORKER * CORES // WORKERS] * WORKERS


def test_workers_within_the_cores_each_take_the_full_rate(
    tmp_path: Path, shared_redis_url: str
) -> None:
    settings = {"IVR_WORKERS_CORES": "2", "IVR_MAX_NEW_CALLS_PER_SECOND": str(PER_WORKER)}
    database = f"sqlite:///{tmp_path / 'tickets.db'}"
    with running_node(tmp_path / "node", 2, "full", shared_redis_url, database, settings) as n:
        rates = [
            n.api("/api/health", worker)[1]["headroom"]["max_new_calls_per_second"]
            for worker in (1, 2)
        ]
    assert rates == [PER_WORKER, PER_WORKER]
