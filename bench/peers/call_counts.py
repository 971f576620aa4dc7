"""What a peer IVR counts (calls answered, keys received, calls ended, answered calls
that ended without their key), written as JSON every second, on SIGTERM and at exit.

The file is replaced atomically, so a bench reading it mid-run sees whole counts."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from types import FrameType


class CallCounts:
    """Thread-safe counters of one IVR process, kept in ``path``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self.counts = {"answered": 0, "keys": 0, "ended": 0, "ended_without_key": 0}

    def add(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def write(self) -> None:
        with self._lock:
            text = json.dumps(self.counts)
        partial = self._path.with_name(self._path.name + ".tmp")  # one per process
        partial.write_text(text)
        os.replace(partial, self._path)

    def write_every_second(self) -> threading.Thread:
        """Start (and return) a daemon thread that writes the counts every second."""

        def loop() -> None:
            while True:
                self.write()
                threading.Event().wait(1.0)

        thread = threading.Thread(target=loop, name="counts", daemon=True)
        thread.start()
        return thread

    def exit_on_sigterm(self) -> None:
        """On SIGTERM: write the counts and leave at once (the SIP stacks' own
        teardown can hang in their threads)."""

        def leave(signum: int, frame: FrameType | None) -> None:
            self.write()
            os._exit(0)

        signal.signal(signal.SIGTERM, leave)
        signal.signal(signal.SIGINT, leave)


def read_counts(paths: list[Path]) -> dict[str, int]:
    """The counts of several processes, summed (a missing file counts nothing)."""
    total = {"answered": 0, "keys": 0, "ended": 0, "ended_without_key": 0}
    for path in paths:
        try:
            counts = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for name in total:
            total[name] += int(counts.get(name, 0))
    return total
