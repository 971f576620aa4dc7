"""Malformed INVITEs get an error final response, and the next call is answered; the
RFC 4475 torture messages, oversized datagrams and junk against the service behind its edge."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.nodes import RunningNode
from support.service import RunningService
from support.sip_edge import TRUNK, closed_tickets, request, send, start_edge_node, status_code
from support.sip_messages import GOOD_SDP, final_response, invite
from support.sipp import run_sipp

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
    # Refused by the worker itself, with no edge in front (RFC 4475 badaspec, bext01).
    "to_with_spaces_inside_the_brackets": {"replace": {"To": '"Watson" < sip:100@127.0.0.1 >'}},
    "from_with_spaces_inside_the_brackets": {"replace": {"From": "< sip:5001@127.0.0.1 >;tag=1"}},
    "require_of_an_unknown_extension": {"replace": {"Require": "nothingSupportsThis"}},
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


# --- RFC 4475 torture messages against the service behind its SIP edge ---------------

TORTURE_DIR = Path(__file__).resolve().parent / "data" / "rfc4475"  # RFC 4475, byte for byte
TORTURE = sorted(p.stem for p in TORTURE_DIR.glob("*.dat"))
assert len(TORTURE) == 49, f"the 49 RFC 4475 messages belong in {TORTURE_DIR}"
# RFC 4475 3.1.2: invalid syntax: rejected (4xx) or dropped, never accepted.
INVALID = {
    "badinv01", "clerr", "ncl", "scalar02", "scalarlg", "quotbal", "ltgtruri", "lwsruri",
    "lwsstart", "trws", "escruri", "baddate", "regbadct", "badaspec", "baddn", "badvers",
    "mismatch01", "mismatch02", "bigcode",
}  # fmt: skip
# Where the edge itself decides, the code the RFC names.
EXACT = {
    "zeromf": 483, "ltgtruri": 400, "escruri": 400, "baddate": 400, "mismatch01": 400,
    "mismatch02": 400, "scalar02": 400, "bext01": 420, "invut": 415, "sdp01": 406,
}  # fmt: skip


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """The service behind the edge; rate limits off so the replay is not throttled."""
    node = start_edge_node(
        tmp_path_factory.mktemp("edge"),
        "allow: [127.0.0.1, 127.0.0.2]\n"
        "rate_limits: {invite_per_second: 0, options_per_second: 0, register_per_second: 0}\n",
    )
    yield node
    assert node.stop() == 0, node.log_text()[-3000:]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("name", TORTURE)
def test_rfc4475_message_behind_the_edge_is_never_accepted_when_invalid(
    edge: RunningNode, name: str, transport: str
) -> None:
    message = (TORTURE_DIR / f"{name}.dat").read_bytes()
    if transport == "tcp":
        message = message.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP", 1)
    # From the trunk address: the edge never relays its in-dialog requests beyond a worker.
    response = send(message, edge.sip_port, source=TRUNK, transport=transport, timeout=0.5)
    code = status_code(response)
    assert code is None or code >= 300, response
    if name in INVALID:
        assert code is None or 400 <= code < 500, response
    if name in EXACT and (transport == "udp" or name not in ("clerr",)):
        assert code == EXACT[name], response


def test_the_edge_and_its_worker_survive_torture_oversized_datagrams_and_junk(
    edge: RunningNode, tmp_path: Path
) -> None:
    for name in TORTURE:
        send((TORTURE_DIR / f"{name}.dat").read_bytes(), edge.sip_port, timeout=0.05)
    oversized = request("INVITE", edge.sip_port, headers=("X-Padding: " + "a" * 64_000,), body="")
    assert len(oversized) > 64_000
    send(oversized, edge.sip_port, timeout=0.5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(os.urandom(65_000), ("127.0.0.1", edge.sip_port))
    with socket.create_connection(("127.0.0.1", edge.sip_port), timeout=2) as junk:
        junk.sendall(os.urandom(20_000) + b"\r\n\r\n" + os.urandom(5_000))
    answered = send(request("OPTIONS", edge.sip_port), edge.sip_port)
    assert status_code(answered) == 200, answered
    result = run_sipp(
        "menu_key1_rfc2833.xml", edge.sip_uri_host, "5402", workdir=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.errors[-3000:]
    [ticket] = closed_tickets(edge, "5402", 1)
    assert ticket["disposition"] == "completed"
    assert edge.process.poll() is None
