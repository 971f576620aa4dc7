"""The forecast's settings: ``forecast:`` in ``ivr.yaml`` (``ForecastConfig``, rows of
``ivr.config_table``), with the queues and their service levels of the contact centre
(``ForecastSettings``).

```yaml
forecast:
  timezone: Europe/Berlin   # default: callbacks.calling_hours.timezone
  weeks: 4                  # the same weekday and interval over the last 4 weeks
  adjust_prior_calls: 20    # today's scale: (calls + 20) / (expected + 20)
  max_adjust: 2             # ... kept within 1/2 and 2
  backtest_days: 7          # the back-test error over the last 7 days
  break_minutes: 15         # a break is granted when the forecast covers 15 minutes
```

The interval is fixed at 15 minutes (the ticket store's and the statistics'), and each
queue's service level is its ``queues.<name>.service_level_seconds``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ivr import config_table as table
from ivr.agents.settings import ContactCenterSettings, QueueSettings


@dataclass(frozen=True)
class ForecastConfig:
    """What ``forecast:`` in ``ivr.yaml`` sets; see the rows of ``ivr.config_table``."""

    timezone: str = table.FORECAST_TIMEZONE.default  # "": the callback calling hours' zone
    weeks: int = table.FORECAST_WEEKS.default
    adjust_prior_calls: float = table.FORECAST_ADJUST_PRIOR_CALLS.default
    max_adjust: float = table.FORECAST_MAX_ADJUST.default
    backtest_days: int = table.FORECAST_BACKTEST_DAYS.default
    break_minutes: float = table.FORECAST_BREAK_MINUTES.default


@dataclass(frozen=True)
class ForecastSettings:
    # Days (and callback times) are read in this zone: "the same weekday and interval".
    timezone: str = "UTC"
    weeks: int = table.FORECAST_WEEKS.default  # the same weekday over the last ``weeks`` weeks
    # Today's calls so far scale the rest of today: (actual + prior) / (expected + prior),
    # so a handful of calls early in the morning moves the forecast little.
    adjust_prior_calls: float = table.FORECAST_ADJUST_PRIOR_CALLS.default
    # the scale stays within [1/max_adjust, max_adjust]
    max_adjust: float = table.FORECAST_MAX_ADJUST.default
    # the last days forecast from their own past, for the error
    backtest_days: int = table.FORECAST_BACKTEST_DAYS.default
    break_minutes: float = table.FORECAST_BREAK_MINUTES.default  # how long a break must be covered
    queues: Mapping[str, QueueSettings] = field(default_factory=dict)

    @classmethod
    def from_contact_center(
        cls, center: ContactCenterSettings, config: ForecastConfig | None = None
    ) -> ForecastSettings:
        """The queues and their service levels with ``config`` (``forecast:`` of
        ``ivr.yaml``; None: its defaults), in its zone or else the callback calling
        hours' zone."""
        config = ForecastConfig() if config is None else config
        return cls(
            timezone=config.timezone or center.callbacks.dispatch.hours.timezone,
            weeks=config.weeks,
            adjust_prior_calls=config.adjust_prior_calls,
            max_adjust=config.max_adjust,
            backtest_days=config.backtest_days,
            break_minutes=config.break_minutes,
            queues=center.queues,
        )
