"""Concurrent calls one node carries with 1, 2 and 3 call workers, measured with SIPp.

For each worker count a node runs as operations run it (``ivr serve --workers N``:
Kamailio in front from 2 workers up), tickets in PostgreSQL when it answers on
127.0.0.1:5432 (else SQLite), Redis at 127.0.0.1:6379 when it answers (else
the node's embedded one). SIPp (on the same machine) places N calls through the
menu of the default plan (~16 s each, key 1 by RFC 4733 8 s in) started at
``--rate`` per second so all are live together; a step passes when SIPp reports
no failed call and there is one completed ticket per call. Steps go up until
one fails; the largest passing N is reported, with the split over workers.

Run: ``python bench/workers.py`` (``--steps 1:150,200,250 --steps 2:300,400,500``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.databases import MACHINE_POSTGRES_ADMIN_URL as POSTGRES_ADMIN_URL  # noqa: E402
from support.databases import postgres_answers  # noqa: E402
from support.harness import wait_until  # noqa: E402
from support.nodes import RunningNode, node_env, start_node  # noqa: E402
from support.service import machine_redis_url  # noqa: E402
from support.sipp import finish_sipp, start_sipp  # noqa: E402

# The menu with the key pressed 8 s in: ~16 s calls, so a set-up rate the
# workers sustain (~20/s each) gets all of a step's calls live together.
SCENARIO = "menu_key1_late.xml"  # tests/sipp
DEFAULT_STEPS = {1: [150, 200, 250, 300], 2: [300, 400, 500, 600], 3: [500, 600, 700, 800]}


def _database(work: Path) -> str:
    if not postgres_answers():
        return f"sqlite:///{work / 'tickets.db'}"
    import psycopg

    name = f"ivr_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def _redis_commands(redis_url: str | None) -> int | None:
    """Commands the Redis server has run so far (all clients), if it is the machine's."""
    if not redis_url:
        return None
    import redis

    with redis.Redis.from_url(redis_url) as client:
        stats = client.info("commandstats")
    return sum(int(entry["calls"]) for entry in stats.values())


def _step(
    node: RunningNode, work: Path, count: int, rate: int, caller: str, redis_url: str | None
) -> tuple[bool, str]:
    started = time.monotonic()
    commands_before = _redis_commands(redis_url)
    workdir = work / f"sipp-{caller}"
    process = start_sipp(
        SCENARIO,
        node.sip_uri_host,
        caller,
        calls=count,
        rate=rate,
        concurrent=count,
        workdir=workdir,
        timeout=150,  # a call is ~16 s; longer means calls hung
    )
    peak = 0
    while process.poll() is None:
        try:
            calls = node.api("/api/calls")[1]["calls"]
            peak = max(peak, sum(c["caller_number"] == caller for c in calls))
        except OSError:
            pass
        time.sleep(0.5)
    result = finish_sipp(process, workdir, 30)
    if result.returncode != 0:
        return False, f"peak {peak} live; SIPp exit {result.returncode}: {result.errors[-300:]!r}"

    def closed() -> list[dict[str, str]] | None:
        _, body = node.api(f"/api/tickets?caller={caller}&limit=500")
        total = int(body["total"])
        if total < count:
            return None
        tickets = list(body["tickets"])
        offset = len(tickets)
        while offset < total:
            tickets += node.api(f"/api/tickets?caller={caller}&limit=500&offset={offset}")[1][
                "tickets"
            ]
            offset = len(tickets)
        return tickets if all(t["disposition"] != "live" for t in tickets) else None

    try:
        tickets = wait_until(closed, 120, f"{count} closed tickets")
    except AssertionError as exc:
        return False, str(exc)
    dispositions = Counter(t["disposition"] for t in tickets)
    split = Counter(t["worker_id"].rsplit("-", 1)[-1] for t in tickets)
    detail = (
        f"peak {peak} live at once, {len(tickets)} tickets {dict(dispositions)}, "
        f"split {dict(sorted(split.items()))}, "
        f"{time.monotonic() - started:.0f} s"
    )
    commands_after = _redis_commands(redis_url)
    if commands_before is not None and commands_after is not None:
        detail += f", {(commands_after - commands_before) / count:.0f} Redis commands a call"
    return len(tickets) == count and set(dispositions) == {"completed"}, detail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--steps",
        action="append",
        default=[],
        metavar="WORKERS:N,N,...",
        help="concurrent calls to try for a worker count (repeatable)",
    )
    parser.add_argument("--rate", type=int, default=35, help="calls started per second")
    args = parser.parse_args()
    steps = dict(DEFAULT_STEPS)
    if args.steps:
        steps = {}
        for item in args.steps:
            workers, _, counts = item.partition(":")
            steps[int(workers)] = [int(c) for c in counts.split(",")]
    redis_url = machine_redis_url()
    summary: list[str] = []
    for workers, counts in steps.items():
        work = Path(tempfile.mkdtemp(prefix=f"ivr-bench-w{workers}-"))
        env = node_env(
            work / "node",
            "bench",
            redis_url or "",
            _database(work),
            f"ivrbench:{uuid.uuid4().hex[:8]}:",
        )
        env["IVR_LOG_LEVEL"] = "WARNING"  # a log line per call step costs CPU the calls need
        if not redis_url:
            env.pop("REDIS_URL")
        node = start_node(work / "node", workers, env)
        best = 0
        try:
            for index, count in enumerate(counts):
                # Other work on the machine moves these numbers: say how busy it was.
                load = os.getloadavg()[0]
                ok, detail = _step(node, work, count, args.rate, f"7{workers}{index}", redis_url)
                detail += f", load average before {load:.1f}"
                print(
                    f"{workers} worker(s), {count:>4} concurrent calls: "
                    f"{'no failures' if ok else 'FAILED'}; {detail}",
                    flush=True,
                )
                if not ok:
                    break
                best = count
        finally:
            node.stop()
        summary.append(f"{workers} worker(s): {best}")
    print("summary: concurrent calls with no failures — " + "; ".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
