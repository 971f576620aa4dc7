"""The shipped help desk configuration (``examples/helpdesk.yaml``, ``make run-helpdesk``)
brings up the example plan with everything it names: a transfer reaches the
agent phone on its configured extension, and a caller facing a long wait books
a callback.

The service runs the shipped file from a copy of the repository's layout
(``examples/`` beside ``dialplans/``, so its relative paths are tested as
written). Two things differ, so the test depends on neither the wall clock nor
fixed ports: the plan's office hours are always open, and the agents'
extensions are reached through the test PBX (Kamailio, where the pjsua2 agent
phones register) instead of one local port per extension.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from peers.kamailio import Kamailio
from support.harness import REPO
from support.phones import PhoneResult, agent_phone, run_phone, set_state
from support.service import RunningService, start_service

EXAMPLE = REPO / "examples" / "helpdesk.yaml"
VENDOR_AGENT = "v1"
MENU = ["welcome", "office_hours", "identify", "greet", "main_menu"]
HEAR = ["hear", 40]
END = ["wait_end", 60]


def layout_with_shipped_config(root: Path, pbx: Kamailio) -> str:
    """``root/dialplans`` with the English plan (always open) and the directory; the
    shipped configuration's text with the agents' extensions at ``pbx``."""
    plans = root / "dialplans"
    plans.mkdir()
    plan = yaml.safe_load((REPO / "dialplans" / "it-helpdesk.en.yaml").read_text("utf-8"))
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    plan["hours"]["office"].update(weekdays=every_day, open="00:00", close="23:59:59.999")
    plan["hours"]["office"]["holidays"] = []
    (plans / "it-helpdesk.en.yaml").write_text(yaml.safe_dump(plan, allow_unicode=True))
    shutil.copy(REPO / "dialplans" / "directory.csv", plans / "directory.csv")
    config = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    dialling = config["dialling"]
    assert dialling["extension_uri"] == "sip:{extension}@127.0.0.1:{extension}"
    dialling["extension_uri"] = f"sip:{{extension}}@{pbx.address}"
    extensions = dialling["allow"][0].replace(
        r"127\.0\.0\.1:6\d{3}", pbx.address.replace(".", r"\.")
    )
    dialling["allow"] = [extensions, *dialling["allow"][1:]]
    return yaml.safe_dump(config)


@pytest.fixture(scope="module")
def service(pbx: Kamailio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    root = tmp_path_factory.mktemp("checkout")
    config_text = layout_with_shipped_config(root, pbx)
    running = start_service(root / "examples", root / "dialplans", config_text=config_text)
    yield running
    running.stop()


def call(service: RunningService, workdir: Path, caller: str, steps: list[Any]) -> PhoneResult:
    return run_phone(
        f"sip:4357@{service.sip_uri_host}",
        steps,
        workdir / f"caller-{caller}.wav",
        caller=caller,
        timeout=150,
    )


def ticket_of(service: RunningService, caller: str) -> dict[str, Any]:
    [ticket] = service.tickets_of(caller, 1)
    _, detail = service.api(f"/api/tickets/{ticket['id']}")
    return dict(detail)


def test_the_example_help_desk_transfers_to_an_agent_and_books_a_callback(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    log = service.log_text()
    assert "plan it-helpdesk.en version" in log
    assert "not configured" not in log and "has no agents" not in log, log

    # The vendor's agent takes calls; the help desk's agents are not logged in,
    # so its wait has no end and a caller is offered a callback.
    # The agent hears the whisper (about 3 s), then talks with the caller.
    phone = agent_phone(pbx, "6201", tmp_path, talk_seconds=6, answer_after=0.5)
    try:
        set_state(service, VENDOR_AGENT, "available")
        with ThreadPoolExecutor(2) as pool:
            # Main menu 4: the expense system, the vendor's queue; rate 4 after.
            vendor = pool.submit(
                call,
                service,
                tmp_path,
                "2003",
                [HEAR, ["dtmf", "4"], HEAR, ["hear", 60], ["dtmf", "4"], END],
            )
            # 0: an agent; the wait is long: 3, called back; 1 books it, 1 confirms 1002.
            booking = pool.submit(
                call,
                service,
                tmp_path,
                "1002",
                [
                    HEAR,
                    ["dtmf", "0"],
                    HEAR,
                    ["dtmf", "3"],
                    HEAR,
                    ["dtmf", "1"],
                    HEAR,
                    ["dtmf", "1"],
                    END,
                ],
            )
            for name, result in (("vendor", vendor.result()), ("booking", booking.result())):
                assert result.ok, f"{name}: {result.error} {result.events}"
    finally:
        phone.stop()

    helped = ticket_of(service, "2003")
    assert helped["nodes"] == [*MENU, "finance", "to_finance", "survey", "thanks"]
    assert helped["queue"] == "finance-vendor" and helped["agent_id"] == VENDOR_AGENT
    assert helped["talk_seconds"] > 1 and helped["satisfaction"] == 4, helped["events"]
    [answered] = phone.of_kind("answered")
    assert answered["call"] == 1

    booked = ticket_of(service, "1002")
    assert booked["nodes"] == [*MENU, "agent_route", "long_wait", "wait_callback", "goodbye"]
    [requested] = [e for e in booked["events"] if e["kind"] == "callback_requested"]
    assert requested["queue"] == "helpdesk" and requested["number"] == "1002"
    _, body = service.api("/api/callbacks")
    [callback] = [c for c in body["callbacks"] if c["number"] == "1002"]
    assert callback["queue"] == "helpdesk" and callback["state"] == "pending", callback
