"""The product beside the Python peers a user would write an IVR with instead (issue 20,
item 5): the same SIPp load (``tests/sipp/overload_call.xml``: INVITE, answer, the
caller presses 1 by RFC 4733 2 s after the answer and hangs up the given seconds later
unless the far end ends first; a 503 is ACKed and counted as refused) against, one
after another:

- ``product``: ``ivr serve --workers N`` with Kamailio in front (as bench/overload.py);
- ``pyvoip``: ``bench/peers/pyvoip_ivr.py``, one process registered with a Kamailio
  registrar (pyVoIP is a phone: it sends everything to its PBX);
- ``pjsua2``: ``bench/peers/pjsua2_ivr.py --processes P`` (4 calls a process, the
  wheel's limit) behind a Kamailio dispatcher (round robin, the next process on busy).

Each step prints: answered, refused (503), failed (SIPp's failed calls), calls answered
without their key (product: its tickets; peers: their own counts), the CPU-seconds and
peak memory of the peer's processes with its Kamailio (from /proc, as bench/overload.py),
the peak of live calls SIPp saw and the call-minutes SIPp placed, and from these
CPU-seconds and peak MB per 1,000 call-minutes (the MB figure depends on the step's
length: memory follows live calls, so peak MB per 1,000 peak live calls is given too).
Capacity: the highest step with 0 failed.

Run: ``python bench/peers_compare.py`` (defaults: 100, 200, 400 concurrent 20 s calls
at 50/s; 20 and 40 new 3 s calls a second for 20 s; 2 workers; 100 pjsua2 processes),
or e.g. ``--peers pyvoip --steps 50:20:50 --rates 10:20:3``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench" / "peers"))

from call_counts import read_counts  # noqa: E402
from dispatcher import start_dispatcher  # noqa: E402
from overload import (  # noqa: E402
    Usage,
    failed_calls,
    parse_rates,
    parse_steps,
    place_calls,
    refused_calls,
    sipp_statistics,
    start_bench_node,
    tickets_of,
)
from peers.kamailio import Kamailio, answers_sip, start_kamailio  # noqa: E402
from support.harness import PYTHON, free_port, free_port_block, wait_until  # noqa: E402

PEERS = ("product", "pyvoip", "pjsua2")


class Peer(Protocol):
    name: str
    target: str  # host:port SIPp dials

    def roots(self) -> list[int]:
        """The processes (with everything below them) whose CPU and memory count."""
        ...

    def begin_step(self) -> None: ...

    def without_key(self, caller: str, answered: int) -> int:
        """Calls answered in this step whose key 1 was not received."""
        ...

    def stop(self) -> None: ...


class Product:
    name = "product"

    def __init__(self, work: Path, workers: int) -> None:
        self.node = start_bench_node(work, workers)
        self.target = self.node.sip_uri_host

    def roots(self) -> list[int]:
        return [self.node.process.pid]

    def begin_step(self) -> None:
        pass

    def without_key(self, caller: str, answered: int) -> int:
        tickets = tickets_of(self.node, caller, answered)
        return sum(1 for t in tickets if t.get("answered_at") and t["keys"] != "1")

    def stop(self) -> None:
        self.node.stop()


class CountingPeer:
    """A peer IVR (one or several processes writing their counts) behind a Kamailio."""

    def __init__(
        self, name: str, process: subprocess.Popen[bytes], kamailio: Kamailio, counts: list[Path]
    ) -> None:
        self.name = name
        self.process = process
        self.kamailio = kamailio
        self.target = kamailio.address
        self._counts = counts
        self._before = read_counts(counts)

    def roots(self) -> list[int]:
        return [self.process.pid, self.kamailio.process.pid]

    def begin_step(self) -> None:
        self._before = read_counts(self._counts)

    def without_key(self, caller: str, answered: int) -> int:
        def delta() -> dict[str, int]:
            now = read_counts(self._counts)
            return {name: now[name] - self._before[name] for name in now}

        deadline = time.monotonic() + 20
        counts = delta()
        while counts["ended"] < counts["answered"] and time.monotonic() < deadline:
            time.sleep(1)  # calls still ending; the counts are written every second
            counts = delta()
        if counts["answered"] != answered:
            print(
                f"  {self.name} counted {counts['answered']} calls answered, SIPp {answered}; "
                f"{counts['answered'] - counts['ended']} not ended",
                flush=True,
            )
        return counts["answered"] - counts["keys"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.kamailio.stop()


def start_pyvoip(work: Path) -> CountingPeer:
    kamailio = start_kamailio(work / "kamailio", free_port())
    counts = work / "counts.json"
    log = work / "pyvoip.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                PYTHON,
                str(REPO / "bench" / "peers" / "pyvoip_ivr.py"),
                "--server",
                kamailio.address,
                "--sip-port",
                str(free_port()),
                "--counts",
                str(counts),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_until(lambda: "registered" in log.read_text(), 30, "pyVoIP registered")
    return CountingPeer("pyvoip", process, kamailio, [counts])


def start_pjsua2(work: Path, processes: int) -> CountingPeer:
    first = free_port_block(processes)
    counts = work / "counts.json"
    work.mkdir(parents=True, exist_ok=True)
    with (work / "pjsua2.log").open("wb") as out:
        process = subprocess.Popen(
            [
                PYTHON,
                str(REPO / "bench" / "peers" / "pjsua2_ivr.py"),
                "--sip-port",
                str(first),
                "--processes",
                str(processes),
                "--counts",
                str(counts),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    ports = [first + index for index in range(processes)]
    wait_until(lambda: all(answers_sip(port) for port in ports), 120, "every pjsua2 process")
    kamailio = start_dispatcher(work / "kamailio", free_port(), ports)
    paths = [Path(f"{counts}.{index}") for index in range(processes)]
    return CountingPeer("pjsua2", process, kamailio, paths)


@dataclass
class Row:
    peer: str
    load: str
    kind: str  # "concurrent" or "rate"
    size: int  # concurrent calls, or new calls a second
    answered: int
    refused: int
    failed: int
    without_key: int
    cpu_seconds: float
    peak_mb: float
    peak_live: int
    call_minutes: float

    def per_thousand_call_minutes(self, value: float) -> float:
        return value * 1000 / self.call_minutes if self.call_minutes else float("nan")

    def cells(self) -> list[str]:
        return [
            self.peer,
            self.load,
            f"{self.answered:,}",
            f"{self.refused:,}",
            f"{self.failed:,}",
            f"{self.without_key:,}",
            f"{self.peak_live:,}",
            f"{self.call_minutes:.0f}",
            f"{self.cpu_seconds:.1f}",
            f"{self.peak_mb:.0f}",
            f"{self.per_thousand_call_minutes(self.cpu_seconds):.0f}",
            f"{self.per_thousand_call_minutes(self.peak_mb):.0f}",
            f"{self.peak_mb * 1000 / self.peak_live:.0f}" if self.peak_live else "-",
        ]


HEADER = [
    "peer",
    "load",
    "answered",
    "refused (503)",
    "failed",
    "answered without the key",
    "peak live calls",
    "call-minutes",
    "CPU-s",
    "peak MB",
    "CPU-s per 1,000 call-min",
    "MB per 1,000 call-min",
    "MB per 1,000 live calls",
]


def _seconds(length: str) -> float:
    """SIPp's ``hh:mm:ss:usec``."""
    hours, minutes, seconds, micro = (int(part) for part in length.split(":"))
    return hours * 3600 + minutes * 60 + seconds + micro / 1e6


def step(
    peer: Peer, work: Path, caller: str, calls: int, rate: int, seconds: int, kind: str
) -> Row:
    """One step of load; ``kind``: "concurrent" (calls placed at rate, all allowed at
    once) or "rate" (new calls a second for calls / rate seconds)."""
    workdir = work / f"sipp-{caller}"
    peer.begin_step()
    usage = Usage(*peer.roots())
    place_calls(peer.target, workdir, caller, calls, rate, seconds)
    refused = refused_calls(workdir)
    failed = failed_calls(workdir)
    answered = calls - refused - failed
    without_key = peer.without_key(caller, answered)
    cpu = usage.stop()
    stats = sipp_statistics(workdir)
    # SIPp's mean length of completed calls (refused ones last milliseconds) x their count
    call_seconds = int(stats[-1]["SuccessfulCall(C)"]) * _seconds(stats[-1]["CallLength(C)"])
    concurrent = kind == "concurrent"
    return Row(
        peer=peer.name,
        load=(
            f"{calls} calls at {rate}/s, {seconds} s"
            if concurrent
            else f"{rate} new calls/s for {calls // rate} s, {seconds} s"
        ),
        kind=kind,
        size=calls if concurrent else rate,
        answered=answered,
        refused=refused,
        failed=failed,
        without_key=without_key,
        cpu_seconds=cpu,
        peak_mb=usage.peak_mb,
        peak_live=max(int(line["CurrentCall"]) for line in stats),
        call_minutes=call_seconds / 60,
    )


def start_peer(name: str, work: Path, workers: int, pjsua2_processes: int) -> Peer:
    if name == "product":
        return Product(work, workers)
    if name == "pyvoip":
        return start_pyvoip(work)
    return start_pjsua2(work, pjsua2_processes)


def capacity(rows: list[Row], kind: str) -> str:
    clean = [row for row in rows if row.kind == kind and row.failed == 0]
    if not clean:
        return "none of the steps"
    best = max(clean, key=lambda row: row.size)
    return f"{best.size:,} ({best.answered:,} answered, {best.refused:,} refused)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peers", default=",".join(PEERS), help="of " + ", ".join(PEERS))
    parser.add_argument(
        "--steps", default="100:20:50,200:20:50,400:20:50", help="calls:seconds:rate, ..."
    )
    parser.add_argument(
        "--rates", default="20:20:3,40:20:3", help="new calls a second:for seconds:call s, ..."
    )
    parser.add_argument("--workers", type=int, default=2, help="the product's workers")
    parser.add_argument("--pjsua2-processes", type=int, default=100, help="4 calls each")
    args = parser.parse_args()
    steps = [(s, "concurrent") for s in parse_steps(args.steps)]
    steps += [(s, "rate") for s in parse_rates(args.rates)]
    work = Path(tempfile.mkdtemp(prefix="ivr-peers-"))
    rows: list[Row] = []
    loads: list[float] = []
    for peer_index, name in enumerate(filter(None, args.peers.split(","))):
        peer = start_peer(name, work / name, args.workers, args.pjsua2_processes)
        peer_rows: list[Row] = []
        try:
            for index, ((calls, rate, seconds), kind) in enumerate(steps):
                loads.append(os.getloadavg()[0])
                caller = f"9{peer_index}{index}"
                row = step(peer, work / name, caller, calls, rate, seconds, kind)
                peer_rows.append(row)
                print(
                    " | ".join(f"{h}: {c}" for h, c in zip(HEADER, row.cells(), strict=True))
                    + f" | load average before {loads[-1]:.1f}",
                    flush=True,
                )
                time.sleep(5)  # the step's last calls end
        finally:
            peer.stop()
        rows += peer_rows
        print(
            f"{name}: capacity (0 failed): concurrent {capacity(peer_rows, 'concurrent')}; "
            f"new calls/s {capacity(peer_rows, 'rate')}",
            flush=True,
        )
        time.sleep(5)
    print(f"\nload average (1 min) before each step: {min(loads):.1f} to {max(loads):.1f}\n")
    print("| " + " | ".join(HEADER) + " |")
    print("|" + " --- |" * len(HEADER))
    for row in rows:
        print("| " + " | ".join(row.cells()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
