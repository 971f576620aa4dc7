"""Speech settings: where the models are and how many decode at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ivr import config_table as table


@dataclass(frozen=True)
class SpeechConfig:
    models_dir: Path = table.ASR_MODELS_DIR.default
    pool_size: int = table.ASR_POOL_SIZE.default
