"""The timer slack the SIP stack's threads start with (ivr/telephony/timer_slack.py)."""

from __future__ import annotations

import ctypes
import sys
import threading

import pytest

from ivr.telephony.timer_slack import timer_slack

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")

PR_GET_TIMERSLACK = 30


def current_slack() -> int:
    return int(ctypes.CDLL(None).prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0))


def test_a_thread_started_under_the_slack_keeps_it_and_the_starter_gets_its_own_back() -> None:
    before = current_slack()
    seen: list[int] = []
    with timer_slack(4_000_000):
        inside = current_slack()
        started = threading.Thread(target=lambda: seen.append(current_slack()))
        started.start()
        started.join()
    assert inside == 4_000_000
    assert seen == [4_000_000]
    assert current_slack() == before
