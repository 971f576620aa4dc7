"""Paths, free ports, waiting and stopping: what every other support module builds on."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
PYTHON = sys.executable


# Ports handed out come from below the kernel's ephemeral range (32768-60999 on
# Linux), so no outgoing connection (Redis, PostgreSQL, HTTP clients of the many
# processes a test starts) can take one between the choice and the bind; and a
# port is handed out once per session. Under pytest-xdist each worker process has
# its own slice of the range, so two workers never pick the same port.
ALL_TEST_PORTS = (20000, 32000)
_HANDED_OUT: set[int] = set()


def worker_port_range(worker: str, worker_count: str) -> tuple[int, int]:
    """The slice of ALL_TEST_PORTS for xdist ``worker`` (``gw<N>``; a worker started in
    place of a crashed one counts on from the last) of ``worker_count``; the whole range
    outside xdist."""
    index, count = worker.removeprefix("gw"), worker_count
    if not (index.isdigit() and count.isdigit()) or not 1 < int(count) <= 100:
        return ALL_TEST_PORTS
    width = (ALL_TEST_PORTS[1] - ALL_TEST_PORTS[0]) // int(count)
    first = ALL_TEST_PORTS[0] + int(index) % int(count) * width
    return first, first + width


PORT_RANGE = worker_port_range(
    os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
)


def port_is_free(host: str, port: int) -> bool:
    """Whether ``port`` binds for both TCP and UDP on ``host`` right now."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, port))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind((host, port))
    except OSError:
        return False
    return True


def free_port(host: str = "127.0.0.1", count: int = 1) -> int:
    """A port free for both TCP and UDP on ``host`` (the first of ``count`` in a row)."""
    rng = random.SystemRandom()
    while True:
        first = rng.randint(PORT_RANGE[0], PORT_RANGE[1] - count)
        block = range(first, first + count)
        if any(p in _HANDED_OUT for p in block):
            continue
        if all(port_is_free(host, p) for p in block):
            _HANDED_OUT.update(block)
            return first


def free_port_block(count: int) -> int:
    """The first of ``count`` consecutive ports free for TCP and UDP on 127.0.0.1."""
    return free_port("127.0.0.1", count)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def stop_process(process: subprocess.Popen[bytes], timeout: float, what: str) -> int:
    """SIGTERM, then the exit code; killed (and the test failed) past ``timeout``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"{what} did not stop within {timeout} s") from None
