"""Worker settings: how many call workers run on one node behind Kamailio."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ivr import config_table as table


@dataclass(frozen=True)
class WorkersConfig:
    """Several call workers on one node behind Kamailio (``ivr serve --workers N``)."""

    count: int = table.WORKERS_COUNT.default
    kamailio: str | None = table.KAMAILIO.default
    cores: int | None = table.WORKERS_CORES.default  # None: the CPUs this process may use
    probe_interval_seconds: int = table.PROBE_INTERVAL_SECONDS.default
    run_dir: Path = table.WORKERS_RUN_DIR.default
