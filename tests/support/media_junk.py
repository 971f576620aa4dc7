"""Junk at the media ports of a live call, from a stranger's address: random bytes,
wrong payload types, huge datagrams (the media resilience and SRTP tests)."""

from __future__ import annotations

import os
import random
import socket
import struct
import subprocess
import time

from support.service import RunningService

STRANGER = "127.0.0.3"


def service_udp_ports(service: RunningService) -> set[int]:
    """Every UDP port the service process has open but its SIP port (the media ports)."""
    listing = subprocess.run(["ss", "-uanpH"], capture_output=True, text=True, check=True).stdout
    ports = set()
    for line in listing.splitlines():
        if f"pid={service.process.pid}," in line:
            ports.add(int(line.split()[3].rsplit(":", 1)[1]))
    return ports - {service.sip_port}


# The call's own payload types (PCMA, PCMU, telephone-event). Plain RTP is taken from
# any address (the stack latches no source), so a stranger's packets of the call's
# telephone-event type would be keys: only SRTP (sip.media_encryption) stops those,
# see tests/test_srtp.py. Junk here is everything else.
NEGOTIATED = (0, 8, 101)
STRAY = (9, 18, 96, 127)


def _not_negotiated(datagram: bytes) -> bytes:
    """``datagram``, unless random bytes happen to make RTP of a negotiated type."""
    if len(datagram) > 1 and datagram[0] >> 6 == 2 and datagram[1] & 0x7F in NEGOTIATED:
        return datagram[:1] + bytes([datagram[1] ^ 0x40]) + datagram[2:]
    return datagram


def junk_datagrams(rng: random.Random, payload_types: tuple[int, ...] = STRAY) -> list[bytes]:
    rtp = [
        # RTP version 2 with the given payload types, and a marker storm
        struct.pack("!BBHII", 0x80, pt | 0x80, rng.randrange(65536), rng.randrange(2**32), 7)
        + os.urandom(160)
        for pt in payload_types
    ]
    short = [b"", b"\x80", b"\x80\x65\x00"]  # shorter than an RTP header
    huge = [os.urandom(65000), os.urandom(9000)]
    noise = [os.urandom(rng.randrange(1, 1500)) for _ in range(40)]
    if payload_types == STRAY:
        noise = [_not_negotiated(n) for n in noise]
    return rtp + short + huge + noise


def send_junk(ports: set[int], seconds: float, payload_types: tuple[int, ...] = STRAY) -> int:
    """Junk from a stranger (127.0.0.3) at ``ports`` for ``seconds``; how many datagrams."""
    rng = random.Random(4475)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind((STRANGER, 0))
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    deadline = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < deadline:
        for datagram in junk_datagrams(rng, payload_types):
            for port in ports:
                try:
                    sender.sendto(datagram, ("127.0.0.1", port))
                    sent += 1
                except OSError:
                    pass  # e.g. a datagram too big for loopback: the rest still go
        time.sleep(0.02)
    sender.close()
    return sent
