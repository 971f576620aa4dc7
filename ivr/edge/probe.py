"""One SIP OPTIONS over UDP: is something answering at an address (a health check)."""

from __future__ import annotations

import socket
import uuid

from ivr.config_values import HostPort


def probe(address: HostPort, timeout: float = 1.0) -> bool:
    """True when ``address`` answers a SIP OPTIONS over UDP with 200 within ``timeout`` seconds."""
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((address.host, address.port))
        local_host, local_port = sock.getsockname()[:2]
        request = (
            f"OPTIONS sip:ping@{address} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {local_host}:{local_port};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
            f"From: <sip:probe@{local_host}:{local_port}>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:ping@{address}>\r\nCall-ID: {uuid.uuid4().hex}\r\n"
            "CSeq: 1 OPTIONS\r\nMax-Forwards: 5\r\nContent-Length: 0\r\n\r\n"
        )
        try:
            sock.send(request.encode())
            return sock.recv(4096).startswith(b"SIP/2.0 200")
        except OSError:
            return False
