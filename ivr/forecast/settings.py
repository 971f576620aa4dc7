"""The forecast's settings: typed, with defaults, built from the contact centre's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ivr.agents.settings import ContactCenterSettings, QueueSettings


@dataclass(frozen=True)
class ForecastSettings:
    # Days (and callback times) are read in this zone: "the same weekday and interval".
    timezone: str = "UTC"
    weeks: int = 4  # the same weekday over the last ``weeks`` weeks
    # Today's calls so far scale the rest of today: (actual + prior) / (expected + prior),
    # so a handful of calls early in the morning moves the forecast little.
    adjust_prior_calls: float = 20.0
    max_adjust: float = 2.0  # the scale stays within [1/max_adjust, max_adjust]
    backtest_days: int = 7  # the last days forecast from their own past, for the error
    break_minutes: float = 15.0  # how long a break the forecast must cover
    queues: Mapping[str, QueueSettings] = field(default_factory=dict)

    @classmethod
    def from_contact_center(cls, center: ContactCenterSettings) -> ForecastSettings:
        """The queues and their service levels, in the callback calling hours' zone."""
        return cls(timezone=center.callbacks.dispatch.hours.timezone, queues=center.queues)
