"""The operations forecast on a seeded history (real ticket store, real Redis), its
HTTP route and command, and the peak-shaving simulator. A fixed clock throughout."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from peers.chromium import Browser
from support.call_history import QUEUE, ZONE, day_arrivals, seed_calls, write_day
from support.harness import ARTIFACTS
from support.service import start_service

from callback.dispatch_settings import CallingHours, DispatchSettings
from callback.line import QueueLine
from callback.requests import CallbackRequests
from ivr.agents.board import AgentBoard, AgentState
from ivr.agents.callback_agents import BoardAgents
from ivr.agents.callback_booking import CallbackBooking
from ivr.agents.dialling import DialPolicy
from ivr.agents.queues import QueueDesk
from ivr.agents.settings import (
    AgentSettings,
    CallbackSettings,
    DiallingSettings,
    QueueSettings,
)
from ivr.api.forecast import add_forecast_routes
from ivr.forecast.forecaster import Forecaster
from ivr.forecast.model import QueueForecast
from ivr.forecast.settings import ForecastSettings
from ivr.forecast.simulate import (
    SimulationResult,
    SimulationSettings,
    parse_break_times,
    parse_staffing,
    read_day,
    simulate,
)
from ivr.tickets.model import CallJournal
from ivr.tickets.store import TicketStore, open_store

REPO = Path(__file__).resolve().parents[1]
# A Wednesday late in the morning, after the 10:00-11:00 peak (Berlin, summer time;
# four weeks back is winter time: the same wall-clock interval is another UTC hour).
# Ahead of the real clock, as callbacks booked for "today" are due no earlier than now.
NOW = datetime(2027, 4, 14, 11, 7, tzinfo=ZONE)
TODAY = NOW.replace(hour=0, minute=0)
QUEUES = {QUEUE: QueueSettings(QUEUE, wrap_up_seconds=10.0, service_level_seconds=60.0)}
SETTINGS = ForecastSettings(timezone="Europe/Berlin", weeks=4, backtest_days=14, queues=QUEUES)
AGENTS = tuple(AgentSettings(f"a{n}", f"Agent {n}", f"sip:60{n}@pbx", (QUEUE,)) for n in range(4))


def local(day: datetime, hour: int, minute: int = 0) -> float:
    return day.replace(hour=hour, minute=minute).timestamp()


async def seed_weeks(store: TicketStore, today_scale: float = 1.0) -> dict[float, int]:
    """Four weeks of Wednesdays and Thursdays, and today until NOW; returns today's
    calls per interval start."""
    rng = random.Random(22)
    arrivals: list[float] = []
    for weeks in range(1, 5):
        for weekday in (TODAY, TODAY + timedelta(days=1)):
            arrivals += day_arrivals(weekday - timedelta(weeks=weeks), rng)
    today = day_arrivals(TODAY, rng, until=NOW, scale=today_scale)
    await seed_calls(store, arrivals + today, rng)
    counts: dict[float, int] = {}
    for at in today:
        start = at - at % 900
        counts[start] = counts.get(start, 0) + 1
    return counts


@pytest.fixture
def prefix() -> str:
    return f"ivrtest:forecast:{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def desk(shared_redis_url: str, prefix: str) -> AsyncIterator[QueueDesk]:
    """Four agents of the help desk in a real Redis, three of them signed in."""
    client = aioredis.from_url(shared_redis_url, decode_responses=True)
    board = AgentBoard(client, prefix, AGENTS)
    await board.register_agents()
    for agent in ("a0", "a1", "a2"):
        await board.set_requested(agent, AgentState.AVAILABLE, True)
    yield QueueDesk(board, QueueLine(client, prefix), QUEUES)
    await client.aclose()


@pytest.fixture
def board(desk: QueueDesk) -> AgentBoard:
    return desk.board


def interval(forecast: QueueForecast, at: float) -> tuple[float, int | None, int]:
    found = forecast.at(at)
    assert found is not None, f"no interval at {datetime.fromtimestamp(at, ZONE)}"
    return found.expected_calls, found.actual_calls, found.agents_needed


async def test_forecast_follows_the_weekly_peak_and_backtests_its_error(
    store: TicketStore, board: AgentBoard
) -> None:
    today_calls = await seed_weeks(store)
    forecaster = Forecaster(store, SETTINGS, board, clock=NOW.timestamp)

    forecast = (await forecaster.forecast(NOW.timestamp()))[QUEUE]

    tomorrow = TODAY + timedelta(days=1)
    peak, peak_actual, peak_agents = interval(forecast, local(tomorrow, 10, 15))
    quiet, _, quiet_agents = interval(forecast, local(tomorrow, 14))
    assert 8 <= peak <= 12 and peak_actual is None, "ten calls a quarter at the peak"
    assert 1 <= quiet <= 3
    assert peak_agents >= quiet_agents + 1 >= 2
    assert interval(forecast, local(tomorrow, 3))[0] == 0, "nobody calls at night"
    # Today: what happened beside what was expected, then the rest of the day.
    expected, actual, _ = interval(forecast, local(TODAY, 10, 30))
    assert actual == today_calls[local(TODAY, 10, 30)] and 8 <= expected <= 12
    assert interval(forecast, local(TODAY, 11, 15))[1] is None
    assert 0.8 <= forecast.adjustment <= 1.25, "today runs like its weekday"
    handle = forecast.intervals[0].handle_seconds
    assert 180 <= handle <= 200, "talk 120-240 s plus 10 s wrap-up"
    assert forecast.agents_signed_in == 3
    # Back-tested on the Wednesdays and Thursdays of the last two weeks.
    backtest = forecast.backtest
    assert backtest.days == 14 and backtest.intervals == 4 * 36, "4 of them had calls"
    assert backtest.relative_error is not None and backtest.relative_error < 0.4
    assert backtest.mean_absolute_error < 1.5
    print(f"back-test: {backtest}")


async def test_a_busy_morning_raises_the_rest_of_the_day(store: TicketStore) -> None:
    await seed_weeks(store, today_scale=1.5)
    forecast = (await Forecaster(store, SETTINGS).forecast(NOW.timestamp()))[QUEUE]

    assert 1.2 <= forecast.adjustment <= 1.6
    later, _, _ = interval(forecast, local(TODAY, 14))
    tomorrow, _, _ = interval(forecast, local(TODAY + timedelta(days=1), 14))
    assert later > tomorrow, "today's scale is not carried into tomorrow"


async def test_forecast_over_http(store: TicketStore, board: AgentBoard) -> None:
    await seed_weeks(store)
    app = web.Application()
    add_forecast_routes(app, Forecaster(store, SETTINGS, board, clock=NOW.timestamp))
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/api/forecast", params={"queue": QUEUE})
        assert response.status == 200
        body = await response.json()
        missing = await client.get("/api/forecast", params={"queue": "nope"})
        assert missing.status == 404

    assert body["timezone"] == "Europe/Berlin" and body["now"] == "2027-04-14T09:07:00.000Z"
    (queue,) = body["queues"]
    assert queue["agents_signed_in"] == 3 and queue["backtest"]["intervals"] == 144
    first, last = queue["intervals"][0], queue["intervals"][-1]
    assert first["start"] == "2027-04-13T22:00:00.000Z", "from today's local midnight"
    assert last["start"] == "2027-04-15T21:45:00.000Z", "to tomorrow's last quarter"
    assert len(queue["intervals"]) == 2 * 96
    peak = next(i for i in queue["intervals"] if i["start"] == "2027-04-15T08:15:00.000Z")
    assert peak["agents_needed"] >= 3 and peak["actual_calls"] is None


async def test_break_before_the_peak_is_held_until_the_forecast_allows(
    store: TicketStore, desk: QueueDesk
) -> None:
    await seed_weeks(store)
    desk.outlook = Forecaster(store, SETTINGS, desk.board)
    before_peak, after_peak = local(TODAY, 9, 50), local(TODAY, 11)

    # 09:50: a 15-minute break reaches into the 10:00 peak, which needs every agent.
    taken = await desk.request_state("a0", AgentState.BREAK, now=before_peak)

    assert taken == "available (break requested)"
    held = await desk.board.view("a0")
    assert held.state is AgentState.AVAILABLE and held.break_requested
    assert held.break_at == after_peak, "granted once the peak's last quarter is over"
    assert await desk.grant_held_breaks(now=local(TODAY, 10, 30)) == []
    assert await desk.grant_held_breaks(now=after_peak) == ["a0"]
    assert (await desk.board.view("a0")).state is AgentState.BREAK


async def test_break_in_the_afternoon_valley_is_granted_at_once(
    store: TicketStore, desk: QueueDesk
) -> None:
    await seed_weeks(store)
    forecaster = Forecaster(store, SETTINGS, desk.board)
    desk.outlook = forecaster

    assert await desk.request_state("a1", AgentState.BREAK, now=local(TODAY, 14)) == "break"
    # One agent away already: a second break would leave one agent where the
    # afternoon needs two, so it is held until a quarter that needs only one.
    asked = local(TODAY, 14, 5)
    taken = await desk.request_state("a2", AgentState.BREAK, now=asked)
    assert taken == "available (break requested)"
    held_until = (await desk.board.view("a2")).break_at
    assert held_until > asked and held_until % 900 == 0
    forecast = (await forecaster.forecast(asked))[QUEUE]
    needed = [i.agents_needed for i in forecast.intervals if asked - 900 < i.start < held_until]
    assert max(needed) == 2 and interval(forecast, held_until)[2] <= 1


def test_forecast_show_prints_the_forecast_and_its_backtest_error(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'tickets.db'}"

    async def seed() -> None:
        store = open_store(database_url)
        await store.open()
        try:
            await seed_weeks(store)
        finally:
            await store.close()

    asyncio.run(seed())
    config = tmp_path / "ivr.yaml"
    config.write_text(
        "queues:\n  helpdesk: {wrap_up_seconds: 10}\n"
        "callbacks:\n  calling_hours: {timezone: Europe/Berlin}\n"
    )
    command = [sys.executable, "-m", "ivr", "forecast", "show", "--config", str(config)]
    command += ["--at", NOW.isoformat(), "--queue", QUEUE]
    env = {**os.environ, "DATABASE_URL": database_url}
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env, timeout=60)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("queue helpdesk: service level 60 s")
    assert lines[1].endswith("0.86 calls per interval (30% of calls) over 7 days, 72 intervals")
    rows = [line.split() for line in lines[3:]]
    assert rows[0][:3] == ["Wed", "2027-04-14", "11:00"], "from the current quarter"
    peak = next(row for row in rows if row[:3] == ["Thu", "2027-04-15", "10:15"])
    assert peak[-1] == "4", "agents needed at tomorrow's peak"


# 126 calls, 13 a quarter from 10:00 to 11:00 (write_day(..., Random(7), scale=1.3)).
PEAK_DAY = REPO / "tests" / "data" / "forecast" / "peak-day.csv"


async def test_break_follows_the_present_alone_while_the_history_cannot_be_read(
    desk: QueueDesk, tmp_path: Path
) -> None:
    unopened = open_store(f"sqlite:///{tmp_path / 'tickets.db'}")  # reads raise
    desk.outlook = Forecaster(unopened, SETTINGS, desk.board)

    assert await desk.request_state("a0", AgentState.BREAK, now=local(TODAY, 9, 50)) == "break"


async def test_callbacks_booked_at_the_peak_are_offered_the_valleys(
    store: TicketStore, desk: QueueDesk, shared_redis_url: str
) -> None:
    await seed_weeks(store)
    desk.outlook = Forecaster(store, SETTINGS, desk.board)
    hours = CallingHours(timezone="Europe/Berlin", weekdays=frozenset(range(5)), closes="17:00")
    settings = CallbackSettings(
        number_uri="sip:{number}@pbx",
        dispatch=DispatchSettings(hours=hours),
        slots_from_forecast=True,
    )
    client = aioredis.from_url(shared_redis_url, decode_responses=True)
    requests = CallbackRequests(client, f"ivrtest:forecast-cb:{uuid.uuid4().hex[:8]}:")
    policy = DialPolicy(DiallingSettings(allow=(re.compile(r"sip:\d+@pbx"),)))
    booking = CallbackBooking(requests, desk, policy, settings, CallJournal(), 7)
    try:
        # 09:50, the peak ahead needs 4 agents where 3 are signed in until 11:00.
        offered = await booking.slots(QUEUE, now=local(TODAY, 9, 50))
        assert offered == [
            ("11:00", local(TODAY, 11)),
            ("13:00", local(TODAY, 13)),
            ("15:00", local(TODAY, 15)),
        ]
        label, at = offered[0]
        booked = await booking.book(QUEUE, "5550100", not_before=at)
        request = await requests.get(booked)
        assert request is not None and request.next_at == local(TODAY, 11), "not before"
        # In the afternoon valley the next free quarter is offered at once.
        later = await booking.slots(QUEUE, now=local(TODAY, 14, 2))
        assert later[0] == ("14:30", local(TODAY, 14, 30))
    finally:
        await client.aclose()


async def test_callbacks_wait_through_the_peak_and_are_dialled_in_the_valley(
    store: TicketStore, desk: QueueDesk, shared_redis_url: str, prefix: str
) -> None:
    await seed_weeks(store)
    desk.outlook = Forecaster(store, SETTINGS, desk.board)
    client = aioredis.from_url(shared_redis_url, decode_responses=True)
    requests = CallbackRequests(client, prefix)  # the line the desk's queue shares
    try:
        booked = await requests.request("5550101", QUEUE, time.time())
        request = await requests.get(booked)
        assert request is not None
        at_peak = BoardAgents(desk.board, desk.line, desk, clock=lambda: local(TODAY, 10, 20))
        in_valley = BoardAgents(desk.board, desk.line, desk, clock=lambda: local(TODAY, 14, 20))

        # The peak needs four agents, three are signed in: none is spared for a callback.
        assert await at_peak.claim(QUEUE, request.entry) is None
        assert {v.state for v in await desk.board.views() if v.id != "a3"} == {AgentState.AVAILABLE}
        # The afternoon needs two of the three: one is rung for the callback.
        agent = await in_valley.claim(QUEUE, request.entry)
        assert agent is not None and (await desk.board.view(agent)).state is AgentState.RINGING
    finally:
        await client.aclose()


def test_day_file_is_the_seeded_peak_day(tmp_path: Path) -> None:
    day = datetime(2026, 11, 25, tzinfo=ZONE)
    written = write_day(tmp_path / "day.csv", day, random.Random(7), scale=1.3)
    assert written.read_text() == PEAK_DAY.read_text()


def test_simulated_peak_day_waits_and_abandons_less_with_shaving() -> None:
    arrivals = read_day(PEAK_DAY, handle_seconds=240, patience_seconds=120)
    staffing = parse_staffing("07:30=2,17:30=0")
    breaks = parse_break_times("10:05,10:20")  # both agents ask at the peak

    def run(shaving: bool) -> SimulationResult:
        settings = SimulationSettings(staffing, shaving, 60.0, break_times=breaks)
        return simulate(arrivals, settings)

    without, with_shaving = run(False), run(True)

    assert run(True) == with_shaving, "seeded: the same day gives the same figures"
    assert without.callbacks_booked == 0 and with_shaving.callbacks_booked > 0
    assert with_shaving.callbacks_served == with_shaving.callbacks_booked, "served in valleys"
    assert with_shaving.mean_wait_seconds < without.mean_wait_seconds
    assert with_shaving.abandon_rate < without.abandon_rate / 2
    assert with_shaving.within_service_level > without.within_service_level
    assert with_shaving.breaks_taken == without.breaks_taken == 2
    assert with_shaving.break_held_minutes > 60 > without.break_held_minutes, "after the peak"
    print(f"without shaving: {without}\nwith shaving:    {with_shaving}")


def test_simulate_command_prints_both_columns() -> None:
    command = [sys.executable, "-m", "ivr", "forecast", "simulate", "--day", str(PEAK_DAY)]
    command += ["--agents", "07:30=2,17:30=0", "--patience", "120", "--json"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["with_shaving"]["abandoned"] < figures["without_shaving"]["abandoned"]
    table = subprocess.run(command[:-1], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "without shaving" in table.stdout and "abandonment" in table.stdout


DASHBOARD_CONFIG = """agents:
  - {id: a1, name: Alice, uri: "sip:6001@127.0.0.1", queues: [helpdesk]}
  - {id: a2, name: Bob, uri: "sip:6002@127.0.0.1", queues: [helpdesk]}
queues:
  helpdesk: {}
"""


async def seed_around(database_url: str, now: float) -> None:
    """Six calls a quarter from an hour before ``now`` to three after, on the same
    weekday of the last four weeks (UTC, the service's default zone), and today's
    hour before ``now`` as usual."""
    rng = random.Random(5)
    first = now - now % 900 - 3600
    arrivals = [
        first - weeks * 7 * 86400 + quarter * 900 + call * 150
        for weeks in range(1, 5)
        for quarter in range(16)
        for call in range(6)
    ]
    arrivals += [first + quarter * 900 + call * 150 for quarter in range(4) for call in range(6)]
    store = open_store(database_url)
    await store.open()
    try:
        await seed_calls(store, arrivals, rng)
    finally:
        await store.close()


def test_dashboard_panel_shows_calls_expected_and_agents_needed(tmp_path: Path) -> None:
    workdir = tmp_path / "service"
    workdir.mkdir()
    asyncio.run(seed_around(f"sqlite:///{workdir / 'tickets.db'}", time.time()))
    service = start_service(workdir, config_text=DASHBOARD_CONFIG)
    try:
        assert service.api("/api/agents/a1/state", "POST", {"state": "available"})[0] == 200
        status, body = service.api("/api/forecast")
        # Alone where three are needed: a break waits for the end of the busy hours.
        _, asked = service.api("/api/agents/a1/state", "POST", {"state": "break"})
        url = f"http://127.0.0.1:{service.http_port}/"

        async def look() -> dict[str, object]:
            async with Browser(lang="en-US") as page:
                await page.goto(url)
                await page.wait_for("!document.getElementById('login').hidden", 10, "login")
                await page.evaluate(
                    f"document.getElementById('token').value = {json.dumps(service.token)}"
                )
                await page.click("#login button[type=submit]")
                await page.wait_for(
                    "document.querySelectorAll('#forecast tbody tr').length === 8",
                    10,
                    "two hours of forecast",
                )
                await page.screenshot(ARTIFACTS / "dashboard-forecast.png")
                return {
                    "alice": await page.evaluate(
                        "document.querySelector('#agents tr[data-agent=\"a1\"]').innerText"
                    ),
                    "needed": await page.evaluate(
                        "Array.from(document.querySelectorAll('#forecast td[data-needed]'))"
                        ".map(td => Number(td.dataset.needed))"
                    ),
                    "short": await page.evaluate(
                        "document.querySelectorAll('#forecast tr.short').length"
                    ),
                    "error": await page.evaluate(
                        "document.getElementById('forecast-error').textContent"
                    ),
                }

        seen = asyncio.run(look())
    finally:
        assert service.stop() == 0

    assert status == 200
    assert asked["result"] == "available (break requested)" and asked["break_at"]
    assert "break requested (from " in str(seen["alice"])
    (queue,) = body["queues"]
    assert queue["queue"] == QUEUE and queue["agents_signed_in"] == 1
    assert seen["needed"] == [3] * 8, "six calls a quarter of about 190 s need three agents"
    assert seen["short"] == 8, "one logged in where three are needed"
    assert seen["error"] == "helpdesk ±0 (0%)", "the weeks were alike: no error"
