"""Leaving a message: recorded after the tone, attached to the ticket."""

from __future__ import annotations

import wave
from pathlib import Path

from support.audio import sound_span
from support.harness import REPO
from support.service import run_ivr, start_service
from support.sipp import run_sipp

PLANS = REPO / "tests" / "plans"


def test_message_cases_pass() -> None:
    result = run_ivr(
        "dialplan",
        "test",
        str(PLANS / "message" / "default.yaml"),
        str(PLANS / "message.cases.yaml"),
    )
    assert result.returncode == 0, result.stdout
    assert "3 passed, 0 failed" in result.stdout


def test_a_message_is_recorded_until_the_end_key_and_attached_to_the_ticket(
    tmp_path: Path,
) -> None:
    service = start_service(tmp_path / "service", plans=PLANS / "message")
    try:
        result = run_sipp(
            "leave_message.xml", service.sip_uri_host, "2101", workdir=tmp_path / "sipp"
        )
        assert result.returncode == 0, result.errors
        [ticket] = service.tickets_of("2101", 1)
        assert ticket["nodes"] == ["record", "thanks"]
        assert ticket["disposition"] == "completed"
        events = service.api(f"/api/tickets/{ticket['id']}")[1]["events"]
        [message] = [e for e in events if e["kind"] == "message"]
        assert message["ended_by"] == "key"
        assert 3.0 < message["seconds"] < 9.0
        path = Path(message["path"])
        assert path.name == f"{ticket['id']}-message-1.wav"
        assert path.parent == Path(ticket["recording_path"]).parent
        with wave.open(str(path)) as wav:
            assert (wav.getnchannels(), wav.getframerate()) == (1, 8000)
            speech, _ = sound_span(wav.readframes(wav.getnframes()))
        assert speech > 2.0, "the caller's words are in the message"
    finally:
        assert service.stop() == 0
