"""SIP admission at the edge: the service behind Kamailio (``ivr serve`` with
``sip.admission`` on), real SIPp calls and floods from 127.0.0.1-3, hand-made requests.

127.0.0.1 plays the PBX, 127.0.0.2 a trunk (both allowed), 127.0.0.3 a stranger.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import re
import socket
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.harness import free_port_block, wait_until
from support.nodes import RunningNode
from support.sip_edge import (
    PBX,
    STRANGER,
    TRUNK,
    closed_tickets,
    live_calls,
    menu_is_up,
    request,
    send,
    start_edge_node,
    status_code,
)
from support.sipp import finish_sipp, run_sipp, start_sipp

# Loads or times a whole node: make test runs it alone, after the rest (serial).
pytestmark = pytest.mark.serial

INVITE_LIMIT = 10  # per source and second on the first node
FLOOD_INVITES = 2000  # at 500/s: four seconds
CALLS_DURING_FLOOD = 20
DIGEST_USER, DIGEST_PASSWORD, REALM = "pbx", "s3cret-pw", "hotline-test"
SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\n"
)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """Refusals answered: 403 for strangers, 503 past the rate limits."""
    node = start_edge_node(
        tmp_path_factory.mktemp("edge"),
        f"""
allow: [{PBX}, {TRUNK}/32]
refuse: reply
rate_limits: {{invite_per_second: {INVITE_LIMIT}, options_per_second: 50, over_limit: reply}}
""",
    )
    yield node
    assert node.stop() == 0, node.log_text()[-3000:]


@pytest.fixture(scope="module")
def strict_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """Refusals silent, INVITEs authenticated, two calls at most."""
    ha1 = hashlib.md5(f"{DIGEST_USER}:{REALM}:{DIGEST_PASSWORD}".encode()).hexdigest()
    node = start_edge_node(
        tmp_path_factory.mktemp("strict"),
        f"""
allow: [{PBX}, {TRUNK}]
refuse: drop
digest: {{realm: {REALM}, users: [{{user: {DIGEST_USER}, ha1: {ha1}}}]}}
rate_limits: {{options_per_second: 3, over_limit: drop}}
max_calls: 2
""",
    )
    yield node
    assert node.stop() == 0, node.log_text()[-3000:]


def _counts(csv_text: str) -> dict[str, int]:
    """The last row of SIPp's -trace_counts file, by column name."""
    rows = list(csv.reader(io.StringIO(csv_text), delimiter=";"))
    header, last = rows[0], rows[-1]
    return {name: int(value) for name, value in zip(header, last, strict=False) if value.isdigit()}


def test_a_source_outside_the_allow_list_is_refused_with_403(edge: RunningNode) -> None:
    for method in ("OPTIONS", "INVITE"):
        body = SDP if method == "INVITE" else ""
        headers = ("Content-Type: application/sdp",) if body else ()
        refused = send(
            request(method, edge.sip_port, headers=headers, body=body),
            edge.sip_port,
            source=STRANGER,
        )
        assert status_code(refused) == 403, refused
    answered = send(request("OPTIONS", edge.sip_port), edge.sip_port, source=PBX)
    assert status_code(answered) == 200, answered
    refused = "SIP from 127.0.0.3"
    wait_until(lambda: refused in edge.log_text(), 10, "the refusal in the log")
    assert "not on sip.admission.allow" in edge.log_text()


@pytest.mark.parametrize("method", ["REGISTER", "SUBSCRIBE", "MESSAGE", "PUBLISH"])
def test_methods_the_service_does_not_take_get_405_with_allow(
    edge: RunningNode, method: str
) -> None:
    for transport in ("udp", "tcp"):
        response = send(request(method, edge.sip_port), edge.sip_port, transport=transport)
        assert status_code(response) == 405, response
        assert response is not None
        allow = re.search(r"^Allow: (.*)$", response, re.MULTILINE)
        assert allow is not None, response
        assert "INVITE" in allow.group(1) and "REGISTER" not in allow.group(1)


def test_an_invite_flood_from_one_source_gets_503_while_the_pbx_calls_succeed(
    edge: RunningNode, tmp_path: Path
) -> None:
    flood = start_sipp(
        "flood_invite.xml",
        edge.sip_uri_host,
        "5001",
        workdir=tmp_path / "flood",
        source=TRUNK,
        calls=FLOOD_INVITES,
        rate=500,
        concurrent=FLOOD_INVITES,
        timeout=60,
        trace_counts=True,
    )
    calls = start_sipp(
        "menu_key1_rfc2833.xml",
        edge.sip_uri_host,
        "5301",
        workdir=tmp_path / "calls",
        source=PBX,
        calls=CALLS_DURING_FLOOD,
        rate=5,
        timeout=60,
        trace_counts=True,
    )
    flooded = finish_sipp(flood, tmp_path / "flood", 120)
    called = finish_sipp(calls, tmp_path / "calls", 120)

    counts = _counts(flooded.counts)
    refused, let_through = counts["2_503_Recv"], counts["3_488_Recv"]
    assert refused + let_through == FLOOD_INVITES, flooded.output[-2000:]
    # The limit lets INVITE_LIMIT a second through (the flood spans about five seconds).
    assert let_through <= INVITE_LIMIT * 8, counts
    wait_until(lambda: "more than 10 INVITE per second" in edge.log_text(), 10, "the log")

    assert called.returncode == 0, called.errors[-3000:]
    answered = _counts(called.counts)["4_200_Recv"]
    assert answered >= 0.99 * CALLS_DURING_FLOOD
    tickets = closed_tickets(edge, "5301", CALLS_DURING_FLOOD)
    assert [t["disposition"] for t in tickets] == ["completed"] * CALLS_DURING_FLOOD


def test_a_pbx_on_tcp_whose_contact_names_no_transport_gets_its_call_over_tcp(
    edge: RunningNode, tmp_path: Path
) -> None:
    # SIPp's Contact has no ;transport=tcp: the re-INVITE and BYE of the worker
    # (which the edge reaches over UDP) must still come back on the connection.
    result = run_sipp(
        "menu_key1_rfc2833.xml",
        edge.sip_uri_host,
        "5302",
        workdir=tmp_path / "sipp",
        timeout=60,
        extra=("-t", "t1"),
    )
    assert result.returncode == 0, result.errors[-3000:]
    [ticket] = closed_tickets(edge, "5302", 1)
    assert ticket["disposition"] == "completed" and ticket["keys"] == "1"


def test_a_stranger_gets_silence_when_refusals_are_dropped(strict_edge: RunningNode) -> None:
    for transport in ("udp", "tcp"):
        silent = send(
            request("OPTIONS", strict_edge.sip_port),
            strict_edge.sip_port,
            source=STRANGER,
            transport=transport,
            timeout=1.0,
        )
        assert silent is None, silent
    assert status_code(send(request("OPTIONS", strict_edge.sip_port), strict_edge.sip_port)) == 200


def test_options_past_the_rate_limit_get_silence_when_so_configured(
    strict_edge: RunningNode,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((TRUNK, 0))
        local = f"{TRUNK}:{sock.getsockname()[1]}".encode()
        # Ten at once fall in at most two one-second windows of three each.
        for _ in range(10):
            message = request("OPTIONS", strict_edge.sip_port)
            message = message.replace(b"{transport}", b"UDP").replace(b"{local}", local)
            sock.sendto(message, ("127.0.0.1", strict_edge.sip_port))
        sock.settimeout(1.0)
        statuses = []
        with contextlib.suppress(TimeoutError):
            while True:
                statuses.append(sock.recv(65535).split(b"\r\n", 1)[0].decode())
    assert 3 <= len(statuses) <= 6, statuses
    assert set(statuses) == {"SIP/2.0 200 OK"}, statuses


def _digest_invite(node: RunningNode, password: str) -> tuple[str | None, str | None]:
    """An INVITE without credentials (the challenge), then again with them: both answers."""
    invite = request("INVITE", node.sip_port, headers=("Content-Type: application/sdp",), body=SDP)
    challenge = send(invite, node.sip_port)
    if status_code(challenge) != 401 or challenge is None:
        return challenge, None
    header = re.search(r"^WWW-Authenticate: Digest (.*)$", challenge, re.MULTILINE)
    assert header is not None, challenge
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', header.group(1)))
    uri = f"sip:100@127.0.0.1:{node.sip_port}"
    ha1 = hashlib.md5(f"{DIGEST_USER}:{params['realm']}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"INVITE:{uri}".encode()).hexdigest()
    cnonce, nc = "0a4f113b", "00000001"
    response = hashlib.md5(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
    authorization = (
        f'Authorization: Digest username="{DIGEST_USER}", realm="{params["realm"]}", '
        f'nonce="{params["nonce"]}", uri="{uri}", response="{response}", algorithm=MD5, '
        f'qop=auth, nc={nc}, cnonce="{cnonce}"'
    )
    again = request(
        "INVITE",
        node.sip_port,
        headers=("Content-Type: application/sdp", authorization),
        body=SDP,
    )
    return challenge, send(again, node.sip_port)


def test_digest_challenge_then_a_wrong_password_is_challenged_again(
    strict_edge: RunningNode,
) -> None:
    challenge, answer = _digest_invite(strict_edge, "not-the-password")
    assert status_code(challenge) == 401 and f'realm="{REALM}"' in (challenge or "")
    assert status_code(answer) == 401, answer
    failed = "digest authentication failed for user 'pbx'"
    wait_until(lambda: failed in strict_edge.log_text(), 10, "the failure in the log")
    log = strict_edge.log_text()
    assert DIGEST_PASSWORD not in log and "not-the-password" not in log


def test_a_call_with_digest_credentials_is_answered(
    strict_edge: RunningNode, tmp_path: Path
) -> None:
    result = run_sipp(
        "menu_key1_digest.xml",
        strict_edge.sip_uri_host,
        "5311",
        workdir=tmp_path,
        timeout=60,
        extra=("-au", DIGEST_USER, "-ap", DIGEST_PASSWORD),
    )
    assert result.returncode == 0, result.errors[-3000:]
    [ticket] = closed_tickets(strict_edge, "5311", 1)
    assert ticket["disposition"] == "completed" and ticket["keys"] == "1"


def test_calls_past_the_concurrent_call_cap_get_503(
    strict_edge: RunningNode, tmp_path: Path
) -> None:
    held = start_sipp(
        "menu_key1_digest.xml",
        strict_edge.sip_uri_host,
        "5321",
        workdir=tmp_path,
        calls=2,
        rate=10,
        timeout=60,
        extra=("-au", DIGEST_USER, "-ap", DIGEST_PASSWORD),
    )
    try:
        wait_until(lambda: live_calls(strict_edge) == 2, 30, "two live calls")
        _, third = _digest_invite(strict_edge, DIGEST_PASSWORD)
        assert status_code(third) == 503 and "Too many calls" in (third or ""), third
    finally:
        result = finish_sipp(held, tmp_path, 120)
    assert result.returncode == 0, result.errors[-3000:]
    # The two calls ended (BYE through the edge): a new one is admitted again.
    _, after = _digest_invite(strict_edge, DIGEST_PASSWORD)
    assert status_code(after) != 503, after


# --- SIP over TLS at the edge --------------------------------------------------------


def _make_certificates(directory: Path) -> dict[str, Path]:
    """A test CA, a server certificate for 127.0.0.1 signed by it, and a second CA."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {n: directory / n for n in ("ca.key", "ca.pem", "server.key", "server.csr",
                                        "server.pem", "other-ca.key", "other-ca.pem")}  # fmt: skip

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", f"/CN=hotline test {ca}", "-keyout", f"{ca}.key",
                "-out", f"{ca}.pem")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext",
            "-out", "server.pem")  # fmt: skip
    return files


@pytest.fixture(scope="module")
def tls_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningNode, int, Path]]:
    workdir = tmp_path_factory.mktemp("tls")
    certs = _make_certificates(workdir / "certs")
    tls_port = free_port_block(1)
    node = start_edge_node(
        workdir,
        f"allow: [{PBX}]\n",
        f"  tls:\n    enabled: true\n    listen: 127.0.0.1:{tls_port}\n"
        f"    certificate: {certs['server.pem']}\n    private_key: {certs['server.key']}\n",
    )
    yield node, tls_port, workdir / "certs"
    assert node.stop() == 0, node.log_text()[-3000:]


class _TlsPhone:
    """A PBX trunk over TLS that verifies the edge's certificate: raw SIP on one connection."""

    def __init__(self, port: int, ca: Path) -> None:
        context = ssl.create_default_context(cafile=str(ca))
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        self.local = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.edge = f"127.0.0.1:{port}"
        self.pending = b""

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode())

    def receive(self) -> str:
        while b"\r\n\r\n" not in self.pending:
            data = self.sock.recv(65535)
            if not data:
                raise AssertionError("the edge closed the TLS connection")
            self.pending += data
        head, _, rest = self.pending.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
        while len(rest) < length:
            rest += self.sock.recv(65535)
        self.pending = rest[length:]
        return (head + b"\r\n\r\n" + rest[:length]).decode()

    def answer(self, request_text: str, body: str = "") -> None:
        """200 OK to a request of the service (its re-INVITE, its BYE)."""
        keep = [line for line in request_text.split("\r\n")
                if line.split(":", 1)[0].lower()
                in ("via", "from", "to", "call-id", "cseq")]  # fmt: skip
        extra = ["Content-Type: application/sdp"] if body else []
        self.send("\r\n".join(["SIP/2.0 200 OK", *keep,
                               f"Contact: <sip:5501@{self.local};transport=tls>", *extra,
                               f"Content-Length: {len(body)}", "", body]))  # fmt: skip


def test_a_pbx_over_tls_verifying_the_certificate_places_a_call_the_service_answers(
    tls_edge: tuple[RunningNode, int, Path],
) -> None:
    node, port, certs = tls_edge
    phone = _TlsPhone(port, certs / "ca.pem")
    call_id, tag = uuid.uuid4().hex, uuid.uuid4().hex[:8]
    sdp = SDP
    dialog = (f"From: <sip:5501@{phone.local}>;tag={tag}", f"Call-ID: {call_id}")
    phone.send("\r\n".join([
        f"INVITE sip:100@{phone.edge};transport=tls SIP/2.0",
        f"Via: SIP/2.0/TLS {phone.local};branch=z9hG4bK{uuid.uuid4().hex};rport;alias",
        *dialog, f"To: <sip:100@{phone.edge}>", "CSeq: 1 INVITE",
        f"Contact: <sip:5501@{phone.local};transport=tls>", "Max-Forwards: 70",
        "Content-Type: application/sdp", f"Content-Length: {len(sdp)}", "", sdp,
    ]))  # fmt: skip
    answer = phone.receive()
    while answer.startswith("SIP/2.0 1"):
        answer = phone.receive()
    assert answer.startswith("SIP/2.0 200"), answer
    to = re.search(r"(?im)^(?:to|t)\s*:\s*([^\r\n]*)", answer).group(1)  # type: ignore[union-attr]
    contact = re.search(r"(?im)^(?:contact|m)\s*:.*<([^>]+)>", answer).group(1)  # type: ignore[union-attr]
    routes = re.findall(r"(?im)^record-route\s*:\s*([^\r\n]*)", answer)
    route_set = [f"Route: {r}" for r in reversed(",".join(routes).split(","))] if routes else []

    def in_dialog(method: str, cseq: int, body: str = "", kind: str = "") -> str:
        return "\r\n".join([
            f"{method} {contact} SIP/2.0",
            f"Via: SIP/2.0/TLS {phone.local};branch=z9hG4bK{uuid.uuid4().hex};rport",
            *dialog, f"To: {to}", f"CSeq: {cseq} {method}", *route_set,
            "Max-Forwards: 70", *([f"Content-Type: {kind}"] if kind else []),
            f"Content-Length: {len(body)}", "", body,
        ])  # fmt: skip

    phone.send(in_dialog("ACK", 1))
    wait_until(lambda: menu_is_up(node), 20, "the TLS call at the main menu")
    phone.send(in_dialog("INFO", 2, "Signal=1\r\nDuration=160\r\n", "application/dtmf-relay"))
    # Key 1 leads to the goodbye: the service's BYE comes back over the same connection.
    while True:
        message = phone.receive()
        if message.startswith("BYE "):
            phone.answer(message)
            break
    phone.sock.close()
    [ticket] = closed_tickets(node, "5501", 1)
    assert ticket["disposition"] == "completed" and ticket["keys"] == "1", ticket


def test_a_pbx_that_does_not_trust_the_certificate_refuses_the_edge(
    tls_edge: tuple[RunningNode, int, Path],
) -> None:
    _, port, certs = tls_edge
    with pytest.raises(ssl.SSLCertVerificationError):
        _TlsPhone(port, certs / "other-ca.pem")
