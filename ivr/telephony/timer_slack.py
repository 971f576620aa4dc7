"""Timer slack for the threads a call worker starts: how late the kernel may wake them.

baresip runs three threads per call (its audio transmit thread polls every 4 ms, the
``aumem`` source and player tick every 20 ms): about 350 wake-ups a second a call.
With Linux's default slack (50 µs) each wakes on its own timer interrupt, and the CPU
goes idle and is woken again between them; on a virtual machine every such wake-up
exits to the hypervisor. With a few milliseconds of slack the kernel wakes the threads
whose timers fall due together on one interrupt. A thread inherits the slack of the
thread that starts it, so the slack set while the SIP stack starts its thread reaches
every media thread that thread starts later.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

_PR_SET_TIMERSLACK = 29
_PR_GET_TIMERSLACK = 30


def _prctl(option: int, value: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    result: int = libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0)
    if result < 0:
        raise OSError(ctypes.get_errno(), "prctl")
    return result


@contextmanager
def timer_slack(nanoseconds: int) -> Iterator[None]:
    """Run the block with this thread's timer slack at ``nanoseconds``; threads
    started inside keep it. The slack is restored afterwards. Not Linux, or the
    kernel refuses: the block runs with the slack unchanged (logged)."""
    if not sys.platform.startswith("linux"):
        yield
        return
    try:
        previous = _prctl(_PR_GET_TIMERSLACK, 0)
        _prctl(_PR_SET_TIMERSLACK, nanoseconds)
    except (OSError, AttributeError) as exc:
        log.warning("could not set the timer slack of the SIP stack's threads: %s", exc)
        yield
        return
    try:
        yield
    finally:
        _prctl(_PR_SET_TIMERSLACK, previous)
