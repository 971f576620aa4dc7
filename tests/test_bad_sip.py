"""Malformed INVITEs get an error final response, and the next call is answered."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from conftest import RunningService, run_sipp
from sip_messages import GOOD_SDP, final_response, invite

BAD_INVITES = {
    "sdp_not_sdp": {"body": "this is not a session description\r\n"},
    "sdp_without_media": {"body": "v=0\r\n"},
    "sdp_bad_media_port": {"body": GOOD_SDP.replace("40000", "port")},
    "sdp_no_common_codec": {
        "body": GOOD_SDP.replace("RTP/AVP 0", "RTP/AVP 99") + "a=rtpmap:99 NOPE/8000\r\n"
    },
    "missing_call_id": {"drop": "Call-ID"},
    "missing_cseq": {"drop": "CSeq"},
    "missing_from": {"drop": "From"},
    "missing_to": {"drop": "To"},
    "missing_contact": {"drop": "Contact"},
}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("case", sorted(BAD_INVITES))
def test_malformed_invite_gets_an_error_final_response(
    service: RunningService, case: str, transport: str
) -> None:
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(5)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        message = invite(service, port, **BAD_INVITES[case])
        if transport == "udp":
            sock.sendto(message, ("127.0.0.1", service.sip_port))
        else:
            sock.connect(("127.0.0.1", service.sip_port))
            sock.sendall(message.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"))
        status = final_response(sock)
    code = int(status.split()[1])
    assert 400 <= code < 700, status


def test_the_next_call_after_malformed_invites_is_answered(
    service: RunningService, tmp_path: Path
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        for case in sorted(BAD_INVITES):
            sock.sendto(invite(service, port, **BAD_INVITES[case]), ("127.0.0.1", service.sip_port))
            final_response(sock)
        sock.sendto(b"\x00\xffnot sip at all\r\n\r\n", ("127.0.0.1", service.sip_port))

    result = run_sipp("menu_key1_rfc2833.xml", service.sip_uri_host, "5002", workdir=tmp_path)
    assert result.returncode == 0, result.errors
    [ticket] = service.tickets_of("5002", 1)
    assert ticket["disposition"] == "completed"
