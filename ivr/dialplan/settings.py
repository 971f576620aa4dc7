"""Dial plan settings: where plans live, which is the default, watching and canaries."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ivr import config_table as table


@dataclass(frozen=True)
class DialplanConfig:
    directory: Path = table.DIALPLAN_DIR.default
    default_plan: str = table.DEFAULT_PLAN.default
    watch: bool = table.DIALPLAN_WATCH.default
    canary_percent: int = table.CANARY_PERCENT.default
    versions_dir: Path = table.VERSIONS_DIR.default
