"""Redis settings: an external server or the embedded one, and the key prefix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ivr import config_table as table


@dataclass(frozen=True)
class RedisConfig:
    url: str | None = table.REDIS_URL.default  # None: start an embedded server
    key_prefix: str = table.REDIS_KEY_PREFIX.default
    embedded_data_dir: Path = table.REDIS_DATA_DIR.default
