"""A key the caller pressed is on the ticket even when no node read it (issue 20, item 3):
pressed during a long prompt, then the caller hung up before the menu listened."""

from __future__ import annotations

from pathlib import Path

from support.phones import caller_phone
from support.service import start_service

PLAN = """plan: default
voice: en
start: welcome
nodes:
  welcome:
    type: prompt
    say: >-
      Welcome to the help desk. This greeting is long on purpose: a key pressed while
      it plays waits for the menu that follows, and this caller hangs up before it.
    next: menu
  menu:
    type: menu
    say: For a password reset, press 1.
    keys: {"1": bye}
  bye: {type: hangup, say: Goodbye.}
"""


def test_a_key_pressed_before_the_caller_hung_up_is_on_the_ticket(tmp_path: Path) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "default.yaml").write_text(PLAN)
    service = start_service(tmp_path / "service", plans)
    try:
        caller = caller_phone(
            service,
            "100",
            tmp_path,
            "7301",
            dtmf={"digits": "1", "after": 1.0},
            talk_seconds=2.5,
        )
        caller.wait_for("done", 60)
        assert caller.of_kind("dtmf"), "the caller pressed 1"
        [ticket] = service.tickets_of("7301", 1)
        _, detail = service.api(f"/api/tickets/{ticket['id']}")
    finally:
        service.stop()

    assert ticket["keys"] == "1"
    assert ticket["nodes"] == ["welcome"], "the caller left before the menu"
    assert ticket["disposition"] == "abandoned"
    assert [e["digit"] for e in detail["events"] if e["kind"] == "dtmf_unread"] == ["1"]
