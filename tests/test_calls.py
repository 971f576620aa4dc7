"""Real calls into the real service: SIPp and a pjsua2 phone over loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.audio import read_stereo, sound_span
from support.phones import run_phone
from support.service import RunningService
from support.sipp import run_sipp

from ivr.media.prompts import PromptLibrary

REPO = Path(__file__).resolve().parents[1]
MENU_PATH = ["welcome", "main_menu", "password_reset", "goodbye"]


def test_rfc4733_key_press_walks_the_menu_and_the_ticket_shows_path_and_key(
    service: RunningService, tmp_path: Path
) -> None:
    result = run_sipp("menu_key1_rfc2833.xml", service.sip_uri_host, "3001", workdir=tmp_path)
    assert result.returncode == 0, result.errors

    [ticket] = service.tickets_of("3001", 1)
    assert ticket["disposition"] == "completed"
    assert ticket["nodes"] == MENU_PATH
    assert ticket["keys"] == "1"
    assert ticket["called_number"] == "100"
    assert ticket["plan"]["name"] == "default"


def test_sip_info_key_press_walks_the_menu(service: RunningService, tmp_path: Path) -> None:
    result = run_sipp("menu_key1_info.xml", service.sip_uri_host, "3002", workdir=tmp_path)
    assert result.returncode == 0, result.errors

    [ticket] = service.tickets_of("3002", 1)
    assert ticket["nodes"] == MENU_PATH
    assert ticket["keys"] == "1"
    _, detail = service.api(f"/api/tickets/{ticket['id']}")
    kinds = [event["kind"] for event in detail["events"]]
    assert kinds[:3] == ["incoming", "answered", "node"]
    assert {"kind": "dtmf", "digit": "1", "node": "main_menu"}.items() <= next(
        e for e in detail["events"] if e["kind"] == "dtmf"
    ).items()


def test_caller_hangup_during_prompt_marks_ticket_abandoned_and_closes_recording(
    service: RunningService, tmp_path: Path
) -> None:
    result = run_sipp("hangup_during_prompt.xml", service.sip_uri_host, "3003", workdir=tmp_path)
    assert result.returncode == 0, result.errors

    [ticket] = service.tickets_of("3003", 1)
    assert ticket["disposition"] == "abandoned"
    assert ticket["nodes"] == ["welcome", "main_menu"]
    assert "hung up" in ticket["end_reason"]
    caller, ivr, seconds = read_stereo(Path(ticket["recording_path"]))
    assert 2.0 < seconds < 5.0
    assert sound_span(ivr)[0] > 1.5, "the prompts are on the service's channel"
    assert sound_span(caller)[0] > 0.3, "the caller's G.711 audio is on the caller's channel"


def expected_prompt(text: str) -> tuple[float, float]:
    async def render() -> bytes:
        library = PromptLibrary(REPO / "var" / "test-cache")
        try:
            return await library.speech(text, "en")
        finally:
            library.close()

    return sound_span(asyncio.run(render()))


def test_phone_hears_the_prompt_presses_a_key_and_hears_the_next_prompt(
    service: RunningService, tmp_path: Path
) -> None:
    result = run_phone(
        f"sip:100@{service.sip_uri_host}",
        [["hear", 20], ["dtmf", "1"], ["hear", 20], ["wait_end", 30]],
        tmp_path / "heard.wav",
        caller="2001",
    )
    assert result.ok, result.error

    # Welcome and menu play back to back, then the menu waits for a key.
    welcome, _ = expected_prompt("Welcome to the IT help desk.")
    menu, menu_rms = expected_prompt(
        "For a password reset, press 1. For software installation, press 2. "
        "To hear this again, press 9."
    )
    first, after_key = result.heard
    assert first["duration"] == pytest.approx(welcome + menu, abs=1.0)
    assert first["rms"] == pytest.approx(menu_rms, rel=0.5)
    # After the key: the password instructions, then goodbye, then the service hangs up.
    instructions, _ = expected_prompt(
        "To reset your password, open the self service portal and choose forgot password."
    )
    goodbye, _ = expected_prompt("Thank you for calling. Goodbye.")
    assert after_key["duration"] == pytest.approx(instructions + goodbye, abs=1.5)
    assert result.events[-1]["event"] == "remote_hangup"

    [ticket] = service.tickets_of("2001", 1)
    assert ticket["nodes"] == MENU_PATH
    assert ticket["disposition"] == "completed"
