"""Cost of the dashboard and of Prometheus scrapes on a running call worker.

A service with 50 agents in 5 queues and a month of tickets (``--tickets``,
spread over the last 30 days on SQLite) answers:

1. ``GET /metrics``: p50 and p95 in milliseconds;
2. ``GET /api/dashboard?from=<midnight>`` (one snapshot, today's stats
   included): p50 and p95;
3. ``--viewers`` dashboards connected to the event stream for ``--seconds``:
   the service's CPU use (percent of one core) while they watch, against the
   same time idle.

Run: ``python bench/dashboard.py`` (``--tickets 20000`` for a quick look).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

import tickets_store  # noqa: E402
from support.service import start_service  # noqa: E402

from ivr.tickets.store import open_store  # noqa: E402

QUEUES = ["helpdesk", "network", "laptops", "accounts", "vip"]


def config_text(agents: int) -> str:
    lines = ["agents:"]
    for number in range(agents):
        queues = ", ".join(QUEUES[number % len(QUEUES) :][:2] or QUEUES[:1])
        lines.append(
            f'  - {{id: a{number}, uri: "sip:6{number:03d}@127.0.0.1", queues: [{queues}]}}'
        )
    lines.append("queues:")
    lines.extend(f"  {name}: {{}}" for name in QUEUES)
    return "\n".join(lines) + "\n"


async def seed(database_url: str, count: int) -> None:
    # The store bench spreads its tickets over 30 days from START: end them now.
    tickets_store.START = time.time() - tickets_store.SPAN_SECONDS
    store = open_store(database_url)
    await store.open()
    try:
        await tickets_store.fill(store, count, writers=8)
    finally:
        await store.close()


def timed_gets(url: str, runs: int, headers: dict[str, str]) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        times.append((time.perf_counter() - began) * 1000)
    return times


def summary(name: str, times: list[float]) -> str:
    p95 = statistics.quantiles(times, n=20)[-1]
    return (
        f"{name}: p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms ({len(times)} requests)"
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_percent(pid: int, seconds: float) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds * 100


def watch(url: str, headers: dict[str, str], stop: threading.Event, events: list[int]) -> None:
    with urllib.request.urlopen(
        urllib.request.Request(url, headers=headers), timeout=60
    ) as response:
        while not stop.is_set():
            line = response.readline()
            if not line:
                return
            if line.startswith(b"event: snapshot"):
                events.append(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ivr-bench-dashboard-"))
    database_url = f"sqlite:///{work / 'tickets.db'}"
    began = time.perf_counter()
    asyncio.run(seed(database_url, args.tickets))
    print(f"seeded {args.tickets} tickets in {time.perf_counter() - began:.1f} s")
    service = start_service(
        work / "service",
        env={"IVR_LOG_LEVEL": "WARNING", "DATABASE_URL": database_url},
        config_text=config_text(args.agents),
    )
    base = f"http://127.0.0.1:{service.http_port}"
    midnight = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    try:
        for number in range(0, args.agents, 2):
            service.api(f"/api/agents/a{number}/state", "POST", {"state": "available"})
        auth = service.auth_headers()
        print(summary("GET /metrics", timed_gets(f"{base}/metrics", args.runs, {})))
        snapshot_url = f"{base}/api/dashboard?from={midnight}"
        print(summary("GET /api/dashboard (today)", timed_gets(snapshot_url, args.runs, auth)))

        idle = cpu_percent(service.process.pid, args.seconds)
        stop = threading.Event()
        events: list[int] = []
        stream = f"{base}/api/dashboard/stream?from={midnight}"
        viewers = [
            threading.Thread(target=watch, args=(stream, auth, stop, events), daemon=True)
            for _ in range(args.viewers)
        ]
        for viewer in viewers:
            viewer.start()
        watching = cpu_percent(service.process.pid, args.seconds)
        stop.set()
        print(
            f"{args.viewers} dashboards on the event stream: service CPU {watching:.1f}% "
            f"of a core (idle {idle:.1f}%), {len(events)} snapshots sent in {args.seconds:.0f} s"
        )
    finally:
        service.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
