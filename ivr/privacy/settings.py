"""Privacy settings: log masking and how long recordings and transcripts are kept."""

from __future__ import annotations

from dataclasses import dataclass

from ivr import config_table as table


@dataclass(frozen=True)
class PrivacyConfig:
    """What personal data is kept, for how long; 0 days keeps it for good."""

    mask_logs: bool = table.MASK_LOGS.default
    mask_desk_numbers: bool = table.MASK_DESK_NUMBERS.default
    recordings_retention_days: float = table.RECORDINGS_RETENTION_DAYS.default
    transcripts_retention_days: float = table.TRANSCRIPTS_RETENTION_DAYS.default
    sweep_interval_seconds: float = table.PRIVACY_SWEEP_SECONDS.default
