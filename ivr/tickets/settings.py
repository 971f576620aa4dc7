"""Ticket settings: the webhook each finished ticket is posted to."""

from __future__ import annotations

from dataclasses import dataclass

from ivr import config_table as table


@dataclass(frozen=True)
class TicketsConfig:
    webhook_url: str | None = table.WEBHOOK_URL.default
    webhook_timeout_seconds: float = table.WEBHOOK_TIMEOUT_SECONDS.default
    webhook_max_backoff_seconds: float = table.WEBHOOK_MAX_BACKOFF_SECONDS.default
