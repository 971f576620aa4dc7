"""A node past its capacity: every INVITE is answered and completed cleanly, or refused
with 503; none is answered and then broken, and tickets equal answered calls.

A node runs as operations run it (``ivr serve --workers N``, Kamailio in front,
Redis at 127.0.0.1:6379 when it answers, else the embedded one; SQLite). SIPp
(``tests/sipp/overload_call.xml``) places calls that press 1 by RFC 4733 2 s in and
hang up the given seconds later unless the plan ended first; a 503 is ACKed and
logged as refused. Each step
reports: answered, refused (503), failed (SIPp's failed calls: answered then broken,
or never answered), the tickets of answered calls (they must equal the answered
calls, each with its key), tickets of attempts never answered (a worker took the
INVITE up after the caller was refused: labelled "call ended before it was
answered"), duplicate Call-IDs, the node's CPU-seconds and its peak memory (every
process of the node, from /proc).

Run: ``python bench/overload.py`` (defaults: 2 workers; 600 then 1,200 concurrent
40 s calls at 60/s; then 100 new 3 s calls a second for 30 s), or e.g.
``--workers 4 --steps 1000:40:50,2000:40:50 --rates 100:30:3,200:30:3``. ``--max-calls``
sets a small capacity so that twice it fits a test (tests/test_overload_twice.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.harness import wait_until  # noqa: E402
from support.nodes import RunningNode, node_env, start_node  # noqa: E402
from support.service import machine_redis_url  # noqa: E402
from support.sipp import SIPP_DIR, finish_sipp, start_sipp  # noqa: E402

SCENARIO = "overload_call.xml"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except OSError:
            continue
    return total * PAGE_KB / 1024


class Usage:
    """CPU-seconds and peak memory of the processes under ``roots`` (each root and
    every process below it) while a step runs."""

    def __init__(self, *roots: int) -> None:
        self._roots = roots
        self._stop = threading.Event()
        self.peak_mb = 0.0
        self._cpu_before = _cpu_seconds(self._pids())
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _pids(self) -> list[int]:
        return [pid for root in self._roots for pid in _tree(root)]

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            self.peak_mb = max(self.peak_mb, _rss_mb(self._pids()))

    def stop(self) -> float:
        """Stop watching; the CPU-seconds used since the start."""
        self._stop.set()
        self._thread.join()
        return _cpu_seconds(self._pids()) - self._cpu_before


def tickets_of(node: RunningNode, caller: str, expected: int) -> list[dict[str, str]]:
    """The tickets of ``caller``'s calls, once ``expected`` of them are closed (or
    whatever is there after 120 s)."""

    def closed() -> list[dict[str, str]] | None:
        _, body = node.api(f"/api/tickets?caller={caller}&limit=500")
        total = int(body["total"])
        tickets = list(body["tickets"])
        while len(tickets) < total:
            page = f"/api/tickets?caller={caller}&limit=500&offset={len(tickets)}"
            tickets += node.api(page)[1]["tickets"]
        if len(tickets) < expected or any(t["disposition"] == "live" for t in tickets):
            return None
        return tickets

    try:
        return list(wait_until(closed, 120, f"{expected} closed tickets"))
    except AssertionError:
        _, body = node.api(f"/api/tickets?caller={caller}&limit=500")
        return list(body["tickets"])


def place_calls(
    target: str, workdir: Path, caller: str, calls: int, rate: int, seconds: int
) -> int:
    """SIPp places ``calls`` overload calls (``tests/sipp/overload_call.xml``, hanging
    up ``seconds`` after the key) at ``rate`` a second to ``target`` (host:port), all
    allowed at once, logging into ``workdir``; SIPp's exit code."""
    workdir.mkdir(parents=True, exist_ok=True)
    scenario = workdir / SCENARIO
    template = (SIPP_DIR / SCENARIO).read_text()
    scenario.write_text(template.replace("CALL_MS", str(seconds * 1000)))
    process = start_sipp(
        str(scenario),
        target,
        caller,
        calls=calls,
        rate=rate,
        concurrent=calls,
        workdir=workdir,
        timeout=calls / rate + seconds + 120,
        extra=("-trace_logs", "-trace_stat", "-fd", "1"),
    )
    return finish_sipp(process, workdir, calls / rate + seconds + 180).returncode


def refused_calls(workdir: Path) -> int:
    """Calls SIPp logged as refused with 503 (see :func:`place_calls`)."""
    return sum(p.read_text(errors="replace").count("refused ") for p in workdir.glob("*_logs.log"))


def step(
    node: RunningNode, work: Path, caller: str, calls: int, rate: int, seconds: int
) -> tuple[bool, str]:
    workdir = work / f"sipp-{caller}"
    usage = Usage(node.process.pid)
    started = time.monotonic()
    returncode = place_calls(node.sip_uri_host, workdir, caller, calls, rate, seconds)
    wall = time.monotonic() - started
    refused = refused_calls(workdir)
    failed = failed_calls(workdir)
    answered = calls - refused - failed
    tickets = tickets_of(node, caller, answered)
    cpu = usage.stop()
    taken = [t for t in tickets if t.get("answered_at")]
    unanswered = len(tickets) - len(taken)  # attempts the caller saw refused or gave up on
    duplicates = len(tickets) - len({t["call_id"] for t in tickets})
    without_key = [t for t in taken if t["keys"] != "1"]
    for ticket in without_key[:5]:
        print("  without the key: " + _describe(node, ticket), flush=True)
    ok = failed == 0 and len(taken) == answered and duplicates == 0 and not without_key
    detail = (
        f"{answered} answered, {refused} refused (503), {failed} failed; "
        f"{len(taken)} tickets of answered calls ({len(without_key)} without the key, "
        f"{dict(Counter(t['disposition'] for t in taken))}), {unanswered} of attempts never "
        f"answered, {duplicates} duplicate Call-IDs; "
        f"{cpu:.1f} CPU-s, peak {usage.peak_mb:.0f} MB, {wall:.0f} s, SIPp exit {returncode}"
    )
    return ok, detail


def _describe(node: RunningNode, ticket: dict[str, str]) -> str:
    """When a ticket without the key was answered and ended, and what happened."""
    detail = node.api(f"/api/tickets/{ticket['id']}")[1]
    started = datetime.fromisoformat(detail["started_at"]).timestamp()

    def after(field: str) -> str:
        value = detail.get(field)
        if not value:
            return "-"
        return f"{datetime.fromisoformat(value).timestamp() - started:.2f} s"

    events = [e["kind"] for e in detail.get("events", [])]
    return (
        f"ticket {ticket['id']} on {ticket['worker_id']}: answered {after('answered_at')}, "
        f"ended {after('ended_at')} ({detail.get('end_reason')}); events {events[:12]}"
    )


def sipp_statistics(workdir: Path) -> list[dict[str, str]]:
    """SIPp's statistics file (``-trace_stat``), one dict a line (column: value)."""
    for stats in workdir.glob("*_.csv"):
        lines = stats.read_text(errors="replace").strip().splitlines()
        header = lines[0].split(";")
        return [dict(zip(header, line.split(";"), strict=False)) for line in lines[1:]]
    raise AssertionError(f"no SIPp statistics in {workdir}")


def failed_calls(workdir: Path) -> int:
    """SIPp's cumulative failed calls, from the last line of its statistics file."""
    return int(sipp_statistics(workdir)[-1]["FailedCall(C)"])


def parse_steps(spec: str) -> list[tuple[int, int, int]]:
    """``calls:seconds:rate,...`` (concurrent steps) as (calls, rate, seconds)."""
    steps = []
    for item in filter(None, spec.split(",")):
        calls, seconds, rate = (int(part) for part in item.split(":"))
        steps.append((calls, rate, seconds))
    return steps


def parse_rates(spec: str) -> list[tuple[int, int, int]]:
    """``new calls a second:for seconds:call seconds,...`` (rate steps) as
    (calls, rate, seconds)."""
    steps = []
    for item in filter(None, spec.split(",")):
        rate, duration, seconds = (int(part) for part in item.split(":"))
        steps.append((rate * duration, rate, seconds))
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--max-calls", type=int, default=0, help="sip.max_calls per worker (0: its default)"
    )
    parser.add_argument(
        "--steps", default="600:40:60,1200:40:60", help="concurrent calls:seconds:rate, ..."
    )
    parser.add_argument(
        "--rates", default="100:30:3", help="new calls a second:for seconds:call seconds, ..."
    )
    args = parser.parse_args()
    steps = parse_steps(args.steps) + parse_rates(args.rates)
    work = Path(tempfile.mkdtemp(prefix="ivr-overload-"))
    node = start_bench_node(work, args.workers, args.max_calls)
    all_ok = True
    try:
        for index, (calls, rate, seconds) in enumerate(steps):
            load = os.getloadavg()[0]
            ok, detail = step(node, work, f"8{args.workers}{index}", calls, rate, seconds)
            all_ok &= ok
            print(
                f"{args.workers} workers, {calls} calls at {rate}/s, {seconds} s each: "
                f"{'clean' if ok else 'DAMAGED'}; {detail}; load average before {load:.1f}",
                flush=True,
            )
            time.sleep(5)  # the previous step's calls end
    finally:
        node.stop()
    return 0 if all_ok else 1


def start_bench_node(work: Path, workers: int, max_calls: int = 0) -> RunningNode:
    """``ivr serve --workers`` as the overload bench runs it (logging warnings only;
    the machine's Redis when it answers, else the embedded one; SQLite in ``work``;
    ``max_calls``: sip.max_calls per worker, 0 for its default)."""
    redis_url = machine_redis_url()
    env = node_env(
        work / "node",
        "overload",
        redis_url or "",
        f"sqlite:///{work / 'tickets.db'}",
        f"ivrbench:{uuid.uuid4().hex[:8]}:",
    )
    env["IVR_LOG_LEVEL"] = "WARNING"
    if max_calls:
        env["IVR_MAX_CALLS"] = str(max_calls)
    if not redis_url:
        env.pop("REDIS_URL")
    return start_node(work / "node", workers, env)


if __name__ == "__main__":
    sys.exit(main())
