"""Clients the service did not grow up with, straight to a worker (no edge): SIPp's own
built-in scenario, SIP over TCP, and a line that goes dead without a BYE."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.service import RunningService, start_service
from support.sip_messages import GOOD_SDP, final_message, in_dialog, invite
from support.sipp import finish_sipp, run_sipp, start_sipp

SIPP_SAMPLES = Path("/usr/share/sip-tester")


@pytest.fixture(scope="module")
def dead_line_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """A service that gives up on a call after 2 s without media."""
    running = start_service(
        tmp_path_factory.mktemp("dead-line"), config_text="sip: {rtp_timeout_seconds: 2}\n"
    )
    yield running
    running.stop()


def test_sipps_builtin_uac_pcap_completes_its_calls_with_no_reinvite_to_abort_on(
    service: RunningService, tmp_path: Path
) -> None:
    # The first thing a SIP engineer tries. It aborts a call on any request it does not
    # expect, as it did on the re-INVITE the service used to send right after answering.
    sipp = shutil.which("sipp")
    assert sipp is not None
    scenario = tmp_path / "uac_pcap.xml"
    scenario.write_bytes(subprocess.run([sipp, "-sd", "uac_pcap"], capture_output=True).stdout)
    (tmp_path / "pcap").symlink_to(SIPP_SAMPLES)  # the scenario plays pcap/g711a.pcap
    process = start_sipp(str(scenario), service.sip_uri_host, "", calls=3, workdir=tmp_path)
    result = finish_sipp(process, tmp_path, 90)
    assert result.returncode == 0, result.output[-3000:] + result.errors[-3000:]

    tickets = service.tickets_of("sipp", 3)  # uac_pcap calls as "sipp"
    assert len(tickets) == 3
    for ticket in tickets:
        # It presses 1 (RFC 4733) after 8 s and hangs up a second later.
        assert ticket["keys"] == "1", ticket
        assert ticket["disposition"] == "abandoned", ticket
        assert ticket["end_reason"] == "caller hung up: remote hung up", ticket


def test_a_video_offer_gets_its_video_refused_and_the_call_its_audio(
    service: RunningService,
) -> None:
    offer = GOOD_SDP + "m=video 40002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.bind(("127.0.0.1", 0))
        request = invite(service, sock.getsockname()[1], body=offer)
        sock.sendto(request, ("127.0.0.1", service.sip_port))
        answer = final_message(sock)
        assert answer.startswith("SIP/2.0 200"), answer
        sock.sendto(in_dialog("ACK", request, answer, 1), ("127.0.0.1", service.sip_port))
        sock.sendto(in_dialog("BYE", request, answer, 2), ("127.0.0.1", service.sip_port))
        assert final_message(sock).startswith("SIP/2.0 200")
    assert "\r\nm=audio 0 " not in answer and "\r\nm=video 0 " in answer, answer


def test_a_call_over_tcp_straight_to_the_worker_walks_the_menu(
    service: RunningService, tmp_path: Path
) -> None:
    result = run_sipp(
        "menu_key1_rfc2833.xml",
        service.sip_uri_host,
        "3101",
        workdir=tmp_path,
        extra=("-t", "t1"),
    )
    assert result.returncode == 0, result.output[-3000:] + result.errors[-3000:]
    [ticket] = service.tickets_of("3101", 1)
    assert ticket["disposition"] == "completed"
    assert ticket["keys"] == "1"


def test_a_line_that_goes_dead_is_a_media_timeout_not_an_abandoned_call(
    dead_line_service: RunningService, tmp_path: Path
) -> None:
    started = time.time()
    # The caller's RTP stops after ~7 s and no BYE comes; the service hangs up.
    result = run_sipp("media_stops.xml", dead_line_service.sip_uri_host, "3102", workdir=tmp_path)
    assert result.returncode == 0, result.output[-3000:] + result.errors[-3000:]

    [ticket] = dead_line_service.tickets_of("3102", 1)
    assert ticket["disposition"] == "media_timeout", ticket
    assert ticket["end_reason"].startswith("media timeout"), ticket
    status, stats = dead_line_service.api(f"/api/stats?from={started - 60}&to={time.time() + 60}")
    assert status == 200, stats
    assert (stats["media_timeouts"], stats["abandoned"]) == (1, 0), stats
    assert stats["media_timeout_rate"] == 1.0 and stats["abandonment_rate"] == 0.0, stats
