"""SRTP media (``sip.media_encryption``) with a pjsua2 phone that insists on it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.harness import wait_until
from support.media_junk import NEGOTIATED, STRAY, send_junk, service_udp_ports
from support.phones import PhoneResult, run_phone
from support.service import RunningService, start_service

SRTP_PHONE = {"PJ_PHONE_SRTP": "mandatory"}


@pytest.fixture(scope="module")
def srtp_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    running = start_service(
        tmp_path_factory.mktemp("srtp"), config_text="sip: {media_encryption: srtp_mandatory}\n"
    )
    yield running
    running.stop()


def test_a_phone_that_insists_on_srtp_hears_the_menu_and_its_key_is_taken(
    srtp_service: RunningService, tmp_path: Path
) -> None:
    results: list[PhoneResult] = []
    phone = threading.Thread(
        target=lambda: results.append(
            run_phone(
                f"sip:100@{srtp_service.sip_uri_host}",
                [["pause", 3], ["hear", 20], ["dtmf", "1"], ["hear", 20], ["wait_end", 30]],
                tmp_path / "heard.wav",
                caller="2401",
                env=SRTP_PHONE,
            )
        )
    )
    phone.start()
    wait_until(lambda: srtp_service.api("/api/calls")[1]["calls"], 15, "the live call")
    ports = wait_until(lambda: service_udp_ports(srtp_service), 10, "the call's media ports")
    # Packets of the call's own payload types, telephone-event included, from a
    # stranger: over plain RTP they would be keys; SRTP authentication drops them.
    assert send_junk(ports, 2, NEGOTIATED + STRAY) > 100
    phone.join(90)
    [result] = results
    assert result.ok, result.error
    first, after_key = result.heard
    assert first["rms"] > 300 and after_key["rms"] > 300, "decrypted prompts, not noise"
    [ticket] = srtp_service.tickets_of("2401", 1)
    assert ticket["keys"] == "1" and ticket["disposition"] == "completed"


def test_plain_rtp_is_refused_where_srtp_is_mandatory(
    srtp_service: RunningService, tmp_path: Path
) -> None:
    result = run_phone(
        f"sip:100@{srtp_service.sip_uri_host}",
        [["hear", 10]],
        tmp_path / "heard.wav",
        caller="2402",
    )
    assert not result.ok
    assert "not answered" in result.error or "488" in result.error, result.error
