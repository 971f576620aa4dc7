"""``ivr forecast show`` and ``ivr forecast simulate``."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path

from ivr.exceptions import IvrError
from ivr.forecast.forecaster import Forecaster
from ivr.forecast.report import forecast_json, forecast_table
from ivr.forecast.settings import ForecastSettings
from ivr.forecast.simulate import (
    SimulationSettings,
    parse_break_times,
    parse_staffing,
    read_day,
    simulate,
)
from ivr.tickets.store import open_store


def show(
    database_url: str,
    settings: ForecastSettings,
    now: float,
    queue: str | None,
    as_json: bool,
    everything: bool,
) -> int:
    """Print the forecast of every queue (or ``queue``) as of ``now``; 2 when unknown."""
    if queue is not None and queue not in settings.queues:
        print(f"ivr forecast: no queue {queue!r} is configured")
        return 2

    async def read() -> int:
        store = open_store(database_url)
        await store.open()
        try:
            forecasts = await Forecaster(store, settings).forecast(now)
        finally:
            await store.close()
        if queue is not None:
            forecasts = {queue: forecasts[queue]}
        if as_json:
            print(json.dumps(forecast_json(forecasts, now, settings.timezone), indent=2))
        else:
            print(forecast_table(forecasts, now, settings.timezone, everything))
        return 0

    try:
        return asyncio.run(read())
    except IvrError as exc:
        print(f"ivr forecast: {exc}")
        return 1


def simulate_day(
    day: Path,
    staffing: str,
    service_level_seconds: float,
    handle_seconds: float,
    patience_seconds: float,
    accept_callback: float,
    seed: int,
    as_json: bool,
    breaks: str = "",
) -> int:
    """Replay ``day`` without and with peak shaving; print both side by side.
    ``breaks``: when agents ask for their break (default: a seeded time each)."""
    try:
        arrivals = read_day(day, handle_seconds, patience_seconds)
        steps = parse_staffing(staffing)
        break_times = parse_break_times(breaks)
    except IvrError as exc:
        print(f"ivr forecast simulate: {exc}")
        return 2
    results = {
        name: simulate(
            arrivals,
            SimulationSettings(
                staffing=steps,
                shaving=shaving,
                service_level_seconds=service_level_seconds,
                accept_callback=accept_callback,
                break_times=break_times,
                seed=seed,
            ),
        )
        for name, shaving in (("without_shaving", False), ("with_shaving", True))
    }
    if as_json:
        print(json.dumps({k: asdict(v) for k, v in results.items()}, indent=2))
        return 0
    rows = [
        ("calls", "calls"),
        ("answered", "answered"),
        ("abandoned", "abandoned"),
        ("mean_wait_seconds", "mean wait (s)"),
        ("p90_wait_seconds", "90% wait (s)"),
        ("within_service_level", "answered within service level"),
        ("callbacks_booked", "callbacks booked"),
        ("callbacks_served", "callbacks served"),
        ("mean_callback_delay_seconds", "mean callback delay (s)"),
        ("breaks_taken", "breaks taken"),
        ("break_held_minutes", "break minutes held"),
    ]
    print(f"{day}: {len(arrivals)} calls, staffing {staffing}, seed {seed}")
    print(f"{'':32}{'without shaving':>16}{'with shaving':>14}")
    without, with_ = (asdict(results["without_shaving"]), asdict(results["with_shaving"]))
    for key, label in rows:
        print(f"{label:32}{without[key]!s:>16}{with_[key]!s:>14}")
    print(
        f"{'abandonment':32}{results['without_shaving'].abandon_rate:>16.1%}"
        f"{results['with_shaving'].abandon_rate:>14.1%}"
    )
    return 0
