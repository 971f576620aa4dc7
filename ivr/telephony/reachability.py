"""Is a phone reachable? What a failed dial says, and one SIP OPTIONS to its URI.

A dial that fails with 404, 408, 410, 480, 502, 503, 504 or a transport error
says the phone is not there (not registered, unknown, down): not the same as a
phone that rings unanswered, is busy or declines. The SIP stack sends no
OPTIONS of its own, so :func:`options_status` sends one over UDP from an
ephemeral socket (the reply comes back to it, per its Via).
"""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from dataclasses import dataclass

import baresip

# Final answers to an INVITE or OPTIONS that mean "no phone there".
UNREACHABLE_STATUSES = frozenset({404, 408, 410, 480, 502, 503, 504})
DEFAULT_SIP_PORT = 5060

_URI = re.compile(
    r"^(?P<scheme>sips?):(?:[^@;?>]*@)?(?P<host>\[[^\]]+\]|[^:;?>]+)(?::(?P<port>\d+))?"
    r"(?P<params>[^?>]*)",
    re.IGNORECASE,
)
_ERRNO = re.compile(r"\[(\d+)\]\s*$")
_STATUS_LINE = re.compile(rb"^SIP/2\.0 (\d{3}) ?([^\r\n]*)")


def unreachable_detail(exc: BaseException) -> str | None:
    """For an error from :meth:`Telephony.dial`: the SIP status (``"480 Temporarily
    Unavailable"``) or transport error that says the phone is not there; None for
    every other outcome (ringing unanswered, busy, declined, refused by policy)."""
    cause = exc.__cause__
    if not isinstance(cause, baresip.CallFailed) or isinstance(cause, baresip.CallTimeout):
        return None
    if cause.status is None:
        # A transport error carries its errno ("Connection timed out [110]"); a reset
        # (104) is the far end's BYE, and any other text (a local hang-up) says nothing.
        errno = _ERRNO.search(cause.reason)
        return cause.reason.strip() if errno and errno[1] != "104" else None
    if cause.status in UNREACHABLE_STATUSES:
        return f"{cause.status} {cause.reason}".strip()
    return None


@dataclass(frozen=True)
class ProbeResult:
    reachable: bool
    detail: str  # "200 OK", "404 Not Found", "no answer to OPTIONS in 2 s", ...


def _target(uri: str) -> tuple[str, int] | None:
    """Host and port an OPTIONS to ``uri`` goes to over UDP; None for a URI that names
    another transport (sips:, ;transport=tcp/tls)."""
    match = _URI.match(uri.strip().strip("<"))
    if match is None or match["scheme"].lower() == "sips":
        return None
    params = match["params"].lower()
    if "transport=" in params and "transport=udp" not in params:
        return None
    host = match["host"].strip("[]")
    return host, int(match["port"] or DEFAULT_SIP_PORT)


def _request(uri: str, local: tuple[str, int], call_id: str) -> bytes:
    host, port = local[0], local[1]
    shown = f"[{host}]" if ":" in host else host
    return (
        f"OPTIONS {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {shown}:{port};rport;branch=z9hG4bK{uuid.uuid4().hex}\r\n"
        f"From: <sip:presence@{shown}:{port}>;tag={uuid.uuid4().hex[:10]}\r\n"
        f"To: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n"
        "Max-Forwards: 10\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n"
    ).encode()


class _Replies(asyncio.DatagramProtocol):
    def __init__(self, call_id: bytes) -> None:
        self.final: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self._call_id = call_id

    def datagram_received(self, data: bytes, addr: object) -> None:
        match = _STATUS_LINE.match(data)
        if match is None or self._call_id not in data or self.final.done():
            return
        status = int(match[1])
        if status >= 200:  # a 100 Trying from a proxy is not the phone's answer
            self.final.set_result((status, match[2].decode(errors="replace").strip()))

    def error_received(self, exc: Exception) -> None:
        if not self.final.done():
            self.final.set_exception(exc)


async def options_status(uri: str, timeout: float) -> ProbeResult | None:
    """Send one SIP OPTIONS to ``uri`` over UDP; None when the URI is not probed over
    UDP (sips:, another transport). Any final answer but 404, 408, 410, 480, 502,
    503 or 504 means a phone (or the PBX on its behalf) is there: an agent's phone
    may refuse OPTIONS (405) and still ring."""
    target = _target(uri)
    if target is None:
        return None
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(*target, type=socket.SOCK_DGRAM)
    except OSError as exc:
        return ProbeResult(False, f"{target[0]} does not resolve: {exc}")
    call_id = f"{uuid.uuid4().hex}@presence"
    transport, replies = await loop.create_datagram_endpoint(
        lambda: _Replies(call_id.encode()), remote_addr=(str(infos[0][4][0]), int(infos[0][4][1]))
    )
    try:
        local = transport.get_extra_info("sockname")
        transport.sendto(_request(uri.strip("<>"), local, call_id))
        try:
            status, reason = await asyncio.wait_for(replies.final, timeout)
        except TimeoutError:
            return ProbeResult(False, f"no answer to OPTIONS in {timeout:g} s")
        except OSError as exc:  # ICMP port unreachable, on a connected socket
            return ProbeResult(False, f"OPTIONS not delivered: {exc.strerror or exc}")
    finally:
        transport.close()
    detail = f"{status} {reason}".strip()
    return ProbeResult(status not in UNREACHABLE_STATUSES, f"{detail} to OPTIONS")
