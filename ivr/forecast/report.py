"""The forecast as JSON (the API, ``ivr forecast show --json``) and as a table."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ivr.forecast.model import Backtest, QueueForecast
from ivr.tickets.json_view import iso


def backtest_json(backtest: Backtest) -> dict[str, Any]:
    return {
        "days": backtest.days,
        "intervals": backtest.intervals,
        "mean_absolute_error_calls": backtest.mean_absolute_error,
        "relative_error": backtest.relative_error,
    }


def forecast_json(
    forecasts: Mapping[str, QueueForecast], now: float, timezone: str
) -> dict[str, Any]:
    return {
        "now": iso(now),
        "timezone": timezone,
        "interval_minutes": 15,
        "queues": [
            {
                "queue": f.queue,
                "service_level_seconds": f.service_level_seconds,
                "agents_signed_in": f.agents_signed_in,
                "adjustment": f.adjustment,
                "backtest": backtest_json(f.backtest),
                "intervals": [
                    {
                        "start": iso(i.start),
                        "expected_calls": i.expected_calls,
                        "actual_calls": i.actual_calls,
                        "handle_seconds": i.handle_seconds,
                        "agents_needed": i.agents_needed,
                    }
                    for i in f.intervals
                ],
            }
            for f in forecasts.values()
        ],
    }


def forecast_table(
    forecasts: Mapping[str, QueueForecast], now: float, timezone: str, everything: bool = False
) -> str:
    """One block per queue: its back-test error, then each interval from the current
    one on (``everything``: from today's midnight) that expects or had calls."""
    zone = ZoneInfo(timezone)
    lines = []
    for f in forecasts.values():
        bt = f.backtest
        error = (
            f"{bt.mean_absolute_error:.2f} calls per interval"
            + (f" ({bt.relative_error:.0%} of calls)" if bt.relative_error is not None else "")
            + f" over {bt.days} days, {bt.intervals} intervals"
        )
        lines += [
            f"queue {f.queue}: service level {f.service_level_seconds:g} s, "
            f"{f.agents_signed_in} signed in, today's scale {f.adjustment:g}",
            f"  back-test error: {error}",
            "  interval          expected  actual  handle_s  needed",
        ]
        for i in f.intervals:
            if not everything and i.start + 900 <= now:
                continue
            if not i.expected_calls and not i.actual_calls:
                continue
            at = datetime.fromtimestamp(i.start, zone).strftime("%a %Y-%m-%d %H:%M")
            actual = "" if i.actual_calls is None else str(i.actual_calls)
            lines.append(
                f"  {at}  {i.expected_calls:8.1f}  {actual:>6}  {i.handle_seconds:8.0f}"
                f"  {i.agents_needed:6d}"
            )
    return "\n".join(lines)
