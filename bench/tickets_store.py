"""Ticket store speed on SQLite and PostgreSQL, with 100,000 tickets.

1. Writes: every ticket as a call writes it (create at the start, finish with
   its events at the end), ``--writers`` calls at a time; tickets per second.
2. Searches as ``GET /api/tickets`` runs them (a page of 50 and the total):
   by caller, and by a one-hour time range; p50 and p95 in milliseconds.
3. ``GET /api/stats`` over one day: p50 and p95.

PostgreSQL runs in a fresh database ``ivr_bench_<random>`` on 127.0.0.1:5432
(user postgres) that is dropped afterwards; it is skipped when nothing answers.
Run: ``python bench/tickets_store.py`` (``--tickets 20000`` for a quick look).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from ivr.tickets.model import (
    Disposition,
    Handling,
    TicketEnd,
    TicketEvent,
    TicketQuery,
    TicketStart,
)
from ivr.tickets.store import TicketStore, open_store

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SPAN_SECONDS = 30 * 24 * 3600  # tickets spread over 30 days
CALLERS = 5000
START = 1_700_000_000.0
PHRASES = [  # unrecognised utterances, for the grouping in stats
    "my laptop will not start",
    "My laptop won't start!",
    "打印机卡纸了",
    "打印机又卡纸",
    "how do I install teams",
    "the wifi on floor 3 is down",
]


def ticket(number: int, rng: random.Random) -> tuple[TicketStart, TicketEnd]:
    at = START + rng.random() * SPAN_SECONDS
    caller = f"+86105555{rng.randrange(CALLERS):04d}"
    agent = rng.random() < 0.4
    start = TicketStart(f"bench-{number}", "bench", caller, "4357", "default", "v1", at)
    events = (
        TicketEvent(at, "incoming", {"caller_uri": f"sip:{caller}@pbx", "called": "4357"}),
        TicketEvent(at + 1, "node", {"node": "welcome"}),
        TicketEvent(at + 4, "utterance", {"text": rng.choice(PHRASES), "intent": None}),
        TicketEvent(at + 5, "utterance", {"text": "reset my password", "intent": "password"}),
        TicketEvent(at + 6, "dtmf", {"digit": "1", "node": "main_menu"}),
        TicketEvent(at + 60, "ended", {"disposition": "completed", "reason": "hangup"}),
    )
    end = TicketEnd(
        answered_at=at + 0.5,
        ended_at=at + 60,
        disposition=Disposition.COMPLETED if rng.random() < 0.9 else Disposition.ABANDONED,
        end_reason="hangup",
        nodes=("welcome", "main_menu", "password_reset", "goodbye"),
        keys="1",
        recording_path=f"recordings/bench/{number}.wav",
        events=events,
        variables={"employee_id": f"E{rng.randrange(CALLERS)}", "department": "IT"},
        satisfaction=rng.choice([None, 3, 4, 5]),
        handling=Handling(
            intent=rng.choice(["password", "vpn", "printer", None]),
            queue="it" if agent else None,
            wait_seconds=rng.random() * 120 if agent else None,
            agent_id=f"a{rng.randrange(30)}" if agent else None,
            ring_attempts=1 if agent else 0,
            talk_seconds=rng.random() * 600 if agent else None,
            transfer_method="bridge" if agent else None,
        ),
    )
    return start, end


async def fill(store: TicketStore, count: int, writers: int) -> float:
    """Write ``count`` tickets, ``writers`` at a time; tickets per second."""
    rng = random.Random(7)
    work = [ticket(n, rng) for n in range(count)]
    queue: asyncio.Queue[tuple[TicketStart, TicketEnd]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)

    async def writer() -> None:
        while not queue.empty():
            start, end = queue.get_nowait()
            ticket_id = await store.create(start)
            await store.finish(ticket_id, end)

    began = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return count / (time.perf_counter() - began)


async def timings(runs: int, one: Callable[[random.Random], Awaitable[object]]) -> list[float]:
    rng = random.Random(11)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        await one(rng)
        times.append((time.perf_counter() - began) * 1000)
    return times


def summary(name: str, times: list[float]) -> str:
    p95 = statistics.quantiles(times, n=20)[-1]
    return f"{name:<28} p50 {statistics.median(times):7.2f} ms   p95 {p95:7.2f} ms"


async def bench(label: str, url: str, count: int, writers: int, runs: int) -> None:
    store = open_store(url)
    await store.open()
    try:
        rate = await fill(store, count, writers)
        print(f"[{label}] {count} tickets written: {rate:,.0f} tickets/s ({writers} calls at once)")

        async def by_caller(rng: random.Random) -> None:
            query = TicketQuery(caller=f"+86105555{rng.randrange(CALLERS):04d}", limit=50)
            await store.search(query)
            await store.count(query)

        async def by_hour(rng: random.Random) -> None:
            since = START + rng.random() * (SPAN_SECONDS - 3600)
            query = TicketQuery(since=since, until=since + 3600, limit=50)
            await store.search(query)
            await store.count(query)

        async def by_caller_and_day(rng: random.Random) -> None:
            since = START + rng.random() * (SPAN_SECONDS - 86400)
            caller = f"+86105555{rng.randrange(CALLERS):04d}"
            query = TicketQuery(caller=caller, since=since, until=since + 86400, limit=50)
            await store.search(query)
            await store.count(query)

        async def stats_day(rng: random.Random) -> None:
            since = START + rng.random() * (SPAN_SECONDS - 86400)
            await store.stats(since, since + 86400)

        print(f"[{label}] " + summary("search by caller", await timings(runs, by_caller)))
        print(f"[{label}] " + summary("search by 1-hour range", await timings(runs, by_hour)))
        print(
            f"[{label}] "
            + summary("search by caller + 1 day", await timings(runs, by_caller_and_day))
        )
        print(
            f"[{label}] "
            + summary("stats over 1 day", await timings(max(runs // 10, 20), stats_day))
        )
    finally:
        await store.close()


def postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--writers", type=int, default=50, help="calls writing at once")
    parser.add_argument("--runs", type=int, default=300, help="searches per kind")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ivr-bench-tickets-"))
    asyncio.run(
        bench("sqlite", f"sqlite:///{work / 'tickets.db'}", args.tickets, args.writers, args.runs)
    )
    if not postgres_answers():
        print("[postgresql] skipped: nothing answers on 127.0.0.1:5432")
        return 0
    import psycopg

    name = f"ivr_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
        asyncio.run(bench("postgresql", url, args.tickets, args.writers, args.runs))
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
