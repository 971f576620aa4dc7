"""The one SIPp runner: a scenario from ``tests/sipp`` against a target, from a chosen
source address, to its end (:func:`run_sipp`) or started and finished apart
(:func:`start_sipp`, :func:`finish_sipp`) when the test acts while the calls run; and
SIPp as answering phones (:func:`answering_phone`) whose new calls are counted."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.harness import REPO, free_port

SIPP_DIR = REPO / "tests" / "sipp"


@dataclass
class SippResult:
    returncode: int
    output: str
    errors: str
    counts: str  # with trace_counts: how often each scenario message was seen (CSV)


def sipp_command(
    scenario: str,
    target: str,
    caller: str,
    *,
    source: str = "127.0.0.1",
    calls: int = 1,
    rate: float = 10,
    concurrent: int | None = None,
    service_number: str = "100",
    timeout: float = 120,
    trace_counts: bool = False,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """SIPp running a scenario from tests/sipp against ``target`` (host:port) from
    ``source``, ``calls`` calls at ``rate`` a second, ``concurrent`` at once (default:
    all); ``trace_counts`` writes the counts :attr:`SippResult.counts` reads."""
    sipp = shutil.which("sipp")
    if sipp is None:
        pytest.fail("sipp is not installed (make test installs the Debian package sip-tester)")
    return [
        sipp,
        "-sf",
        str(SIPP_DIR / scenario),
        target,
        "-i",
        source,
        "-p",
        str(free_port(source)),
        "-mp",
        # SIPp takes the media port and the three above it (RTCP, video RTP and RTCP)
        str(free_port(source, count=4)),
        "-s",
        service_number,
        "-key",
        "caller",
        caller,
        "-m",
        str(calls),
        "-r",
        str(rate),
        "-l",
        str(concurrent or calls),
        "-timeout",
        f"{int(timeout)}s",
        "-timeout_error",
        "-trace_err",
        *(["-trace_counts"] if trace_counts else []),
        "-nostdin",
        "-nd",
        *extra,
    ]


def start_sipp(
    scenario: str,
    target: str,
    caller: str,
    *,
    workdir: Path,
    source: str = "127.0.0.1",
    calls: int = 1,
    rate: float = 10,
    concurrent: int | None = None,
    service_number: str = "100",
    timeout: float = 120,
    trace_counts: bool = False,
    extra: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
    """Start a scenario (options as for :func:`sipp_command`); SIPp writes its logs
    into ``workdir``."""
    command = sipp_command(
        scenario,
        target,
        caller,
        source=source,
        calls=calls,
        rate=rate,
        concurrent=concurrent,
        service_number=service_number,
        timeout=timeout,
        trace_counts=trace_counts,
        extra=extra,
    )
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish_sipp(
    process: subprocess.Popen[bytes], workdir: Path, timeout: float = 150
) -> SippResult:
    """Wait up to ``timeout`` seconds for a started scenario; its result and logs."""
    output, _ = process.communicate(timeout=timeout)
    errors = "".join(p.read_text(errors="replace") for p in workdir.glob("*_errors.log"))
    counts = "".join(p.read_text(errors="replace") for p in workdir.glob("*_counts.csv"))
    return SippResult(process.returncode, output.decode(errors="replace"), errors, counts)


def run_sipp(
    scenario: str, target: str, caller: str, *, workdir: Path, timeout: float = 120, **options: Any
) -> SippResult:
    """Run a scenario to its end; ``options`` as for :func:`sipp_command`."""
    process = start_sipp(scenario, target, caller, workdir=workdir, timeout=timeout, **options)
    return finish_sipp(process, workdir, timeout + 30)


def answering_phone(
    scenario: str, port: int, workdir: Path, extra: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """SIPp as phones answering at 127.0.0.1:``port`` (agents, customers called back),
    logging every message into ``workdir``/messages.log (see :func:`new_calls`)."""
    sipp = shutil.which("sipp")
    if sipp is None:
        pytest.fail("sipp is not installed (make test installs the Debian package sip-tester)")
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            sipp,
            "-sf",
            str(SIPP_DIR / scenario),
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-mp",
            str(free_port(count=4)),  # SIPp binds the three ports above it too
            "-nostdin",
            "-nd",
            "-trace_msg",
            "-message_file",
            str(workdir / "messages.log"),
            *extra,
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def new_calls(message_log: Path) -> Counter[str]:
    """Numbers an answering phone was dialled at, one count per new call (an INVITE
    without a To tag: retransmissions and re-INVITEs are not new calls)."""
    counts: Counter[str] = Counter()
    text = message_log.read_text(errors="replace") if message_log.exists() else ""
    for message in re.split(r"\n-{20,}[^\n]*\n", text):
        request = re.search(r"^INVITE sip:(\d+)@", message, re.MULTILINE)
        to = re.search(r"^To:.*$", message, re.MULTILINE)
        if request and to and "tag=" not in to.group(0):
            counts[request.group(1)] += 1
    return counts
