"""Hand-made SIP requests for tests that need bytes SIPp would not send."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

GOOD_SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\n"
)


class SipTarget(Protocol):
    """A service or node: where the INVITE's Request-URI and To point."""

    @property
    def sip_uri_host(self) -> str: ...


def invite(
    service: SipTarget,
    port: int,
    *,
    drop: str = "",
    body: str = GOOD_SDP,
    replace: dict[str, str] | None = None,
) -> bytes:
    headers = {
        "Via": f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{uuid.uuid4().hex}",
        "From": f"<sip:5001@127.0.0.1:{port}>;tag={uuid.uuid4().hex[:8]}",
        "To": f"<sip:100@{service.sip_uri_host}>",
        "Call-ID": uuid.uuid4().hex,
        "CSeq": "1 INVITE",
        "Contact": f"<sip:5001@127.0.0.1:{port}>",
        "Max-Forwards": "70",
        "Content-Type": "application/sdp",
        "Content-Length": str(len(body)),
    }
    headers.update(replace or {})
    lines = [f"INVITE sip:100@{service.sip_uri_host} SIP/2.0"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name != drop]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def final_response(sock: socket.socket) -> str:
    """The status line of the first non-1xx response."""
    return final_message(sock).split("\r\n", 1)[0]


def final_message(sock: socket.socket) -> str:
    """The first non-1xx response, whole (requests read meanwhile are passed over).
    Over TCP one read may hold several messages (a 180 and the 486 right after it), so
    what is read is cut at each message's end. Raises TimeoutError, ConnectionError."""
    pending = b""
    while True:
        data = sock.recv(65535)
        if not data:
            raise ConnectionError("the connection closed before a final response")
        pending += data
        while (end := _message_end(pending)) is not None:
            message, pending = pending[:end].decode(errors="replace"), pending[end:]
            if message.startswith("SIP/2.0 ") and not message.startswith("SIP/2.0 1"):
                return message


def _message_end(data: bytes) -> int | None:
    """Where the first SIP message in ``data`` ends (its Content-Length counted); None
    while it is incomplete. A datagram without Content-Length ends with the datagram."""
    head, found, _ = data.partition(b"\r\n\r\n")
    if not found:
        return None
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"content-length", b"l"):
            length = int(value.strip() or 0)
    end = len(head) + 4 + (length if length is not None else len(data) - len(head) - 4)
    return end if end <= len(data) else None


def in_dialog(method: str, invite_bytes: bytes, response: str, cseq: int) -> bytes:
    """ACK or BYE for the dialog an INVITE and its 2xx made (UDP, no Record-Route)."""
    request = invite_bytes.decode()
    headers = dict(line.split(": ", 1) for line in request.split("\r\n\r\n")[0].split("\r\n")[1:])
    to = next(line for line in response.split("\r\n") if line.lower().startswith("to:"))
    via = headers["Via"].rsplit("branch=", 1)[0] + f"branch=z9hG4bK{uuid.uuid4().hex}"
    uri = request.split(" ", 2)[1]
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: {via}",
        f"From: {headers['From']}",
        to,
        f"Call-ID: {headers['Call-ID']}",
        f"CSeq: {cseq} {method}",
        "Max-Forwards: 70",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@contextmanager
def udp_phone(timeout: float = 10) -> Iterator[tuple[socket.socket, int]]:
    """A UDP socket on 127.0.0.1 for hand-made SIP, and its port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.bind(("127.0.0.1", 0))
        yield sock, sock.getsockname()[1]
