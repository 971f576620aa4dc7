"""The operations commands of ``ivr``: ``ivr forecast`` and ``ivr helpdesk``, and how a
command reads the configuration its ``--config`` names."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ivr.config import Config, default_config_path, load_config
from ivr.exceptions import IvrError


def config_path(args: argparse.Namespace) -> Path | None:
    return Path(args.config) if args.config else default_config_path()


def add_forecast_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    forecast = commands.add_parser("forecast", help="calls and agents needed, the next hours")
    forecast_commands = forecast.add_subparsers(dest="forecast_command", required=True)
    show = forecast_commands.add_parser(
        "show", help="each queue's forecast per 15 minutes, today and tomorrow, and its error"
    )
    show.add_argument("--config", help="config file (default: $IVR_CONFIG, else ./ivr.yaml)")
    show.add_argument("--queue", help="only this queue")
    show.add_argument("--at", help="as of this ISO 8601 time (default: now)")
    show.add_argument("--all", action="store_true", help="today's past intervals as well")
    show.add_argument("--json", action="store_true", help="as GET /api/forecast answers")

    def run_show(args: argparse.Namespace) -> int:
        from ivr.forecast.command import show as show_forecast
        from ivr.forecast.settings import ForecastSettings

        now = datetime.fromisoformat(args.at).timestamp() if args.at else time.time()
        return with_config(
            args,
            lambda config: show_forecast(
                config.storage.database_url,
                ForecastSettings.from_contact_center(config.contact_center, config.forecast),
                now,
                args.queue,
                args.json,
                args.all,
            ),
        )

    show.set_defaults(func=run_show)
    sim = forecast_commands.add_parser(
        "simulate", help="replay a day's arrivals without and with peak shaving"
    )
    sim.add_argument(
        "--day", required=True, help="CSV: arrived_at[,handle_seconds,patience_seconds]"
    )
    sim.add_argument("--agents", default="4", help="N, or HH:MM=N,HH:MM=N,... (default 4)")
    sim.add_argument("--service-level", type=float, default=60.0, help="seconds (default 60)")
    sim.add_argument("--handle", type=float, default=240.0, help="seconds a call (default 240)")
    sim.add_argument("--patience", type=float, default=180.0, help="seconds held (default 180)")
    sim.add_argument("--accept", type=float, default=0.6, help="share taking a callback")
    sim.add_argument(
        "--breaks", default="", help="HH:MM,HH:MM,...: when each agent asks for a break"
    )
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--json", action="store_true")

    def run_simulate(args: argparse.Namespace) -> int:
        from ivr.forecast.command import simulate_day

        return simulate_day(
            Path(args.day),
            args.agents,
            args.service_level,
            args.handle,
            args.patience,
            args.accept,
            args.seed,
            args.json,
            args.breaks,
        )

    sim.set_defaults(func=run_simulate)


def add_helpdesk_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    helpdesk = commands.add_parser("helpdesk", help="the help desk's ticket system (RT)")
    helpdesk_commands = helpdesk.add_subparsers(dest="helpdesk_command", required=True)
    check = helpdesk_commands.add_parser(
        "check", help="test the connection, the token, the queues and fields mapped"
    )
    check.add_argument("--config", help="config file (default: $IVR_CONFIG, else ./ivr.yaml)")

    def run_check(args: argparse.Namespace) -> int:
        from ivr.tickets.connectors.command import check as check_helpdesk

        return with_config(
            args,
            lambda config: check_helpdesk(
                config.helpdesk, os.environ, f"http://{config.http.listen}"
            ),
        )

    check.set_defaults(func=run_check)


def with_config(args: argparse.Namespace, run: Callable[[Config], int]) -> int:
    """``run`` with the configuration ``--config`` names; exit 2 when it does not load."""
    try:
        config = load_config(config_path(args) or default_config_path())
    except IvrError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 2
    return run(config)
