"""Where the phone calls and where it listens.

The phone is a second SIP endpoint on the machine: it takes its own SIP port
and its own RTP ports, chosen free when it starts, never inside the service's
``sip.rtp_ports`` (a phone there could take a port the service is about to use).
"""

from __future__ import annotations

import ipaddress
import re
import socket

from ivr.config import HostPort
from ivr.exceptions import TelephonyError

DEFAULT_NUMBER = "4357"  # H-E-L-P: the number the phone calls when the URI gives none
RTP_PORT_COUNT = 64  # the stack picks at random among these; calls use two each
_PICK_TRIES = 50
_URI_HOST = re.compile(r"^(?:sips?:)?(?:[^@]*@)?(\[[^\]]+\]|[^:;>?]+)")


def target_uri(given: str | None, service: HostPort) -> str:
    """The SIP URI to dial: ``given`` as is when it is a URI, a bare number at the
    service (``sip:<number>@<sip.listen>``), or the default number at the service."""
    if not given:
        return f"sip:{DEFAULT_NUMBER}@{service}"
    if given.startswith(("sip:", "sips:")):
        return given
    if "@" in given:
        return f"sip:{given}"
    return f"sip:{given}@{service}"


def local_host_for(uri: str) -> str:
    """The local IPv4 address that reaches ``uri``'s host (127.0.0.1 for loopback)."""
    match = _URI_HOST.match(uri)
    host = match.group(1).strip("[]") if match else ""
    try:
        address = ipaddress.ip_address(socket.gethostbyname(host))
    except (OSError, ValueError):
        return "127.0.0.1"
    if address.is_loopback:
        return "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((str(address), 9))  # UDP: no packet is sent, only a route chosen
        return str(probe.getsockname()[0])


def free_sip_port(host: str) -> int:
    """A port free for both UDP and TCP on ``host`` right now. Raises TelephonyError."""
    for _ in range(_PICK_TRIES):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind((host, port))
            except OSError:
                continue
            return port
    raise TelephonyError(f"no free SIP port on {host}")


def free_rtp_ports(host: str, avoid: tuple[int, int]) -> tuple[int, int]:
    """A range of :data:`RTP_PORT_COUNT` ports starting at a free even port, outside
    ``avoid`` (the service's range, inclusive). Raises TelephonyError."""
    for _ in range(_PICK_TRIES):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
        first = port - port % 2
        last = first + RTP_PORT_COUNT - 1
        if last > 65535 or (first <= avoid[1] and avoid[0] <= last):
            continue
        return first, last
    raise TelephonyError(f"no free RTP ports on {host} outside {avoid[0]}-{avoid[1]}")
